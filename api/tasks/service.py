"""Starting tasks: the agent version, the row, the first event and the workflow, idempotently."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass, field

import structlog
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError

from api.tasks.launch import model_warnings, start_workflow
from api.tasks.limits import task_limits
from api.tasks.schemas import TaskCreate
from cape.auth import Principal
from cape.db.events import append_event
from cape.db.models import Task
from cape.domain import Channel, EventType, TaskStatus
from cape.errors import Conflict, InvalidInput, Unavailable
from cape.llm.providers import check_provider
from cape.registry.resolve import load_spec, resolve_agent
from cape.registry.semver import parse_range, try_parse
from cape.registry.validate import input_problems
from cape.settings import Settings

log = structlog.get_logger(__name__)


def new_task_id(owner: str, idempotency_key: str | None) -> str:
    """A fresh id, or one derived from the key so a retried start finds the same workflow."""
    if idempotency_key is None:
        return f"task_{uuid.uuid4().hex}"
    digest = hashlib.sha256(f"{owner}\0{idempotency_key}".encode()).hexdigest()
    return f"task_{digest[:32]}"


@dataclass(frozen=True)
class Started:
    """A started (or found again) task and what its caller should be told."""

    task: Task
    created: bool
    warnings: list[str] = field(default_factory=list)


async def start_task(
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    principal: Principal,
    body: TaskCreate,
    idempotency_key: str | None,
    parent: tuple[str, str] | None = None,
) -> Started:
    """Create the task on its resolved agent version and start its workflow.

    The agent version (`body.agent_version`: a version, a range or none for the default) is
    pinned in the row; the input is validated against that version's input schema and the
    budgets against its ceilings, all problems in one 422. With an `Idempotency-Key` already
    used by this owner the existing task is returned (and its workflow started if an earlier
    attempt died before starting it); the same key with a different request is a 409.
    """
    if idempotency_key is not None:
        existing = await _by_key(session, principal.owner, idempotency_key)
        if existing is not None:
            return Started(await _replay(session, temporal, settings, existing, body), False)
    resolved = await resolve_agent(session, principal, body.agent, body.agent_version)
    spec = resolved.spec
    limits, problems = task_limits(body, spec.limits, settings)
    problems = input_problems(spec.input_schema, body.input) + problems
    if problems:
        fields = ", ".join(p["field"] for p in problems)
        raise InvalidInput(f"invalid input for agent {spec.name!r}: {fields}", details=problems)
    spec.render_prompt(body.input)  # a template that fails on this input: 422 before the row
    for at, choice in enumerate([spec.model, *spec.model.fallbacks]):
        where = "model.provider" if at == 0 else f"model.fallbacks.{at - 1}.provider"
        check_provider(settings, choice.provider, f"spec.{where}")
    task = Task(
        id=new_task_id(principal.owner, idempotency_key),
        agent=spec.name,
        agent_version=resolved.version,
        owner=principal.owner,
        status=TaskStatus.QUEUED,
        input=body.input,
        model=body.model or spec.model.name or settings.default_model,
        max_steps=limits["max_steps"],
        limits=limits,
        idempotency_key=idempotency_key,
        usage={},
        last_seq=0,
        parent_id=parent[0] if parent else None,
        relation=parent[1] if parent else None,
    )
    session.add(task)
    try:
        await session.flush()
        await append_event(
            session,
            task.id,
            channel=Channel.LIFECYCLE,
            type=EventType.TASK_CREATED,
            data={
                "agent": spec.name,
                "agent_version": resolved.version,
                "model": task.model,
                "limits": limits,
                "warnings": resolved.warnings,
                "parent_id": task.parent_id,
                "relation": task.relation,
            },
            dedupe_key="task-created",
        )
        await session.commit()
    except IntegrityError:
        await session.rollback()
        existing = await _by_key(session, principal.owner, idempotency_key or "")
        if existing is None:
            raise
        return Started(await _replay(session, temporal, settings, existing, body), False)
    # The committed row is the outbox of the start: if this request dies before the start
    # (the API stops, the client goes away), the reconciler starts the workflow from the row
    # once the row is older than its grace period, which outlasts this bounded attempt.
    try:
        async with asyncio.timeout(settings.workflow_start_timeout_seconds):
            await start_workflow(temporal, settings, task, spec)
    except (RPCError, RuntimeError) as exc:  # RuntimeError: the lazy client never connected
        # Temporal refused or could not be reached: remove the row so the client's retry
        # (same Idempotency-Key or not) starts cleanly.
        await session.execute(delete(Task).where(Task.id == task.id))
        await session.commit()
        raise Unavailable(
            "could not start the task: Temporal is unavailable", details=str(exc)
        ) from exc
    except TimeoutError:
        # The start may yet have reached Temporal: keep the row, the reconciler finishes it.
        log.warning("task start timed out; the reconciler will start it", task_id=task.id)
        raise Unavailable(
            "Temporal did not confirm the start in time; the task will start when Temporal "
            "answers (retry with the same Idempotency-Key to get it)",
            details={"task_id": task.id},
        ) from None
    except asyncio.CancelledError:
        log.warning("task start interrupted; the reconciler will start it", task_id=task.id)
        raise
    log.info("task created", task_id=task.id, agent=spec.name, version=resolved.version)
    return Started(task, True, [*resolved.warnings, *model_warnings(settings, spec)])


async def _by_key(session: AsyncSession, owner: str, key: str) -> Task | None:
    return await session.scalar(
        select(Task).where(Task.owner == owner, Task.idempotency_key == key)
    )


def _same_version(task: Task, wanted: str | None) -> bool:
    # The request named a version or range: the task's pinned version must satisfy it.
    if wanted is None or not wanted.strip():
        return True
    pinned = try_parse(task.agent_version)
    return pinned is not None and parse_range(wanted, "body.agent_version").matches(pinned)


async def _replay(
    session: AsyncSession, temporal: Client, settings: Settings, task: Task, body: TaskCreate
) -> Task:
    # Fields the request leaves out took defaults when the task was made: only given ones count.
    limits = task.limits or {}
    different = (
        task.agent != body.agent
        or task.input != body.input
        or not _same_version(task, body.agent_version)
        or (body.model is not None and body.model != task.model)
        or (body.max_steps is not None and body.max_steps != task.max_steps)
        or (body.max_tokens is not None and body.max_tokens != limits.get("max_tokens"))
        or (body.max_cost is not None and body.max_cost != limits.get("max_cost"))
    )
    if different:
        raise Conflict(
            "Idempotency-Key was already used for a different request",
            details={"task_id": task.id},
        )
    if task.status == TaskStatus.QUEUED:
        # Start-on-read: an earlier attempt may have died before its workflow started.
        spec = await load_spec(session, task.agent, task.agent_version)
        try:
            async with asyncio.timeout(settings.workflow_start_timeout_seconds):
                await start_workflow(temporal, settings, task, spec)
        except TimeoutError:
            raise Unavailable(
                "Temporal did not confirm the start in time; retry with the same key",
                details={"task_id": task.id},
            ) from None
    return task
