"""Starting tasks: the agent version, the row, the first event and the workflow, idempotently."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError

from api.tasks.assign import assignment, check_target, same_target
from api.tasks.files import check_files, copy_inputs, drop_copies, referenced
from api.tasks.launch import start_workflow
from api.tasks.schemas import TaskCreate
from cape.artifacts import ArtifactStore
from cape.assign.choose import Assignment
from cape.assign.event import record_assignment, recorded_alternatives
from cape.audit import record
from cape.auth import Principal
from cape.db.engine import read_only
from cape.db.models import Task
from cape.domain import TaskStatus
from cape.errors import Conflict, InvalidInput, Unavailable
from cape.llm.providers import check_provider
from cape.registry.resolve import load_spec, resolve_agent
from cape.registry.semver import parse_range, try_parse
from cape.registry.spec import AgentSpec
from cape.registry.validate import input_problems
from cape.settings import Settings
from cape.task_files import InputFile, fingerprint
from cape.tasks.ids import new_task_id
from cape.tasks.limits import model_warnings, task_limits
from cape.tasks.rows import NewTask, add_task
from cape.team_limits import check_new_task

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Started:
    """A started (or found again) task and what its caller should be told."""

    task: Task
    created: bool
    warnings: list[str] = field(default_factory=list)


async def start_task(
    sessions: async_sessionmaker[AsyncSession],
    temporal: Client,
    settings: Settings,
    principal: Principal,
    body: TaskCreate,
    idempotency_key: str | None,
    parent: tuple[str, str] | None = None,
    *,
    store: ArtifactStore,
    uploads: list[InputFile] | None = None,
) -> Started:
    """Create the task on its resolved agent version and start its workflow.

    The agent version (`body.agent_version`: a version, a range or none for the default) is
    pinned in the row; the input is validated against that version's input schema and the
    budgets against its ceilings, all problems in one 422. With an `Idempotency-Key` already
    used by this owner the existing task is returned (and its workflow started if an earlier
    attempt died before starting it); the same key with a different request is a 409. The
    row is written in a short session of its own: none is open while Temporal is asked.

    Input files (`uploads`, staged by the route, and the artifacts `body.files` names) are
    copied into the task's artifacts and their rows committed with the task's row, before
    the workflow starts; its workspace setup puts them under `input/`.

    A `body.capability` instead of an agent lets the assigner choose the agent
    (`cape.assign`); its decision is the task's `task-assigned` event.
    """
    check_target(body)
    began = time.perf_counter()
    # Lookups and validation read without SQLite's write lock (a writer's session takes it at
    # its first statement): only the inserts queue behind the worker's writes.
    async with read_only(sessions)() as session:
        refs = await referenced(session, settings, store, principal.team_id, body.files or [])
        files = [*(uploads or []), *refs]
        check_files(files, settings)
        found = await _existing(session, principal.team_id, idempotency_key)
        planned = None
        if found is None:
            planned = await _plan(session, settings, principal, body, idempotency_key, parent)
    checked = time.perf_counter()
    if planned is not None:
        found = await _create(sessions, settings, principal, planned, (store, files))
    if found is not None:  # the key's task: an earlier one, or a concurrent request's
        await _same_files(store, found, files)
        return Started(await _replay(sessions, temporal, settings, found, body), False)
    assert planned is not None
    new, spec = planned.new, planned.spec
    stored = time.perf_counter()
    # The committed row is the outbox of the start: if this request dies before the start
    # (the API stops, the client goes away), the reconciler starts the workflow from the row
    # once the row is older than its grace period, which outlasts this bounded attempt.
    try:
        async with asyncio.timeout(settings.workflow_start_timeout_seconds):
            others = planned.chosen.alternatives() if planned.chosen else []
            await start_workflow(temporal, settings, new, spec, others)
    except (RPCError, RuntimeError) as exc:  # RuntimeError: the lazy client never connected
        # Temporal refused or could not be reached: remove the row so the client's retry
        # (same Idempotency-Key or not) starts cleanly.
        async with sessions.begin() as session:
            await session.execute(delete(Task).where(Task.id == new.id))
        await store.delete_task(new.id)
        raise Unavailable(
            "could not start the task: Temporal is unavailable", details=str(exc)
        ) from exc
    except TimeoutError:
        # The start may yet have reached Temporal: keep the row, the reconciler finishes it.
        log.warning("task start timed out; the reconciler will start it", task_id=new.id)
        raise Unavailable(
            "Temporal did not confirm the start in time; the task will start when Temporal "
            "answers (retry with the same Idempotency-Key to get it)",
            details={"task_id": new.id},
        ) from None
    except asyncio.CancelledError:
        log.warning("task start interrupted; the reconciler will start it", task_id=new.id)
        raise
    log.info(
        "task created", task_id=new.id, agent=spec.name, version=new.agent_version,
        # Where a slow POST spent its time: reads, the write transaction, Temporal's start.
        checked_ms=_ms(began, checked), stored_ms=_ms(checked, stored),
        started_ms=_ms(stored, time.perf_counter()),
    )  # fmt: skip
    assert planned.row is not None
    return Started(planned.row, True, [*planned.warnings, *model_warnings(settings, spec)])


def _ms(start: float, end: float) -> float:
    return round((end - start) * 1000, 1)


async def _existing(session: AsyncSession, team_id: str, key: str | None) -> Task | None:
    return None if key is None else await _by_key(session, team_id, key)


@dataclass
class Planned:
    """A validated new task: its row's description, agent version and `task-created` details."""

    new: NewTask
    spec: AgentSpec
    warnings: list[str]
    details: dict[str, Any]
    chosen: Assignment | None = None  # the assigner's decision (a task asked by capability)
    row: Task | None = None  # once committed


async def _plan(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    body: TaskCreate,
    idempotency_key: str | None,
    parent: tuple[str, str] | None,
) -> Planned:
    """Choose the agent (by capability), resolve its version and validate the request.

    One 422 lists every problem.
    """
    chosen = await assignment(session, principal, body)
    name = chosen.agent if chosen else body.agent or ""
    wanted = chosen.version if chosen else body.agent_version
    resolved = await resolve_agent(session, principal, name, wanted)
    spec = resolved.spec
    asked = body.model_dump(include={"max_steps", "max_tokens", "max_cost"})
    limits, problems = task_limits(asked, spec.limits, settings)
    problems = input_problems(spec.input_schema, body.input) + problems
    if problems:
        fields = ", ".join(p["field"] for p in problems)
        raise InvalidInput(f"invalid input for agent {spec.name!r}: {fields}", details=problems)
    spec.render_prompt(body.input)  # a template that fails on this input: 422 before the row
    spec.render_locks(body.input)  # so do its locks (`spec.locks.<i>`)
    for at, choice in enumerate([spec.model, *spec.model.fallbacks]):
        where = "model.provider" if at == 0 else f"model.fallbacks.{at - 1}.provider"
        check_provider(settings, choice.provider, f"spec.{where}")
    new = NewTask(
        id=new_task_id(principal.team_id, idempotency_key),
        agent=spec.name,
        agent_version=resolved.version,
        owner=principal.owner,
        team_id=principal.team_id,
        input=body.input,
        model=body.model or spec.model.name or settings.default_model,
        max_steps=limits["max_steps"],
        limits=limits,
        idempotency_key=idempotency_key,
        parent_id=parent[0] if parent else None,
        relation=parent[1] if parent else None,
    )
    details = {"limits": limits, "warnings": resolved.warnings, "parent_id": new.parent_id,
               "relation": new.relation}  # fmt: skip
    if chosen is not None:
        details["capability"] = chosen.capability
    return Planned(new, spec, resolved.warnings, details, chosen)


async def _create(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    principal: Principal,
    planned: Planned,
    inputs: tuple[ArtifactStore, list[InputFile]],
) -> Task | None:
    """Commit the queued row in one short write transaction; None once it is in `planned.row`.

    Returns the key's task instead when a concurrent request with the same key committed
    first. The team's limits are checked inside the transaction, so two requests cannot both
    take a team's last place.
    """
    new = planned.new
    store, files = inputs
    copies = await copy_inputs(store, new.id, new.team_id, files)  # file work: before the lock
    async with sessions() as session:
        try:
            await check_new_task(session, settings, principal.team_id)
            row = await add_task(session, new, planned.details)
            if planned.chosen is not None:
                await record_assignment(session, new.id, planned.chosen)
            session.add_all(copies)
            action = f"task.{new.relation}" if new.relation else "task.create"
            record(session, principal, action, "task", new.id, agent=planned.spec.name,
                   parent=new.parent_id, files=len(copies))  # fmt: skip
            await session.commit()
        except IntegrityError:
            await session.rollback()
            drop_copies(store, copies)
            existing = await _by_key(session, principal.team_id, new.idempotency_key or "")
            if existing is None:
                raise
            return existing
        except BaseException:  # the row is not there: neither are its files
            drop_copies(store, copies)
            raise
    planned.row = row
    return None


async def _by_key(session: AsyncSession, team_id: str, key: str) -> Task | None:
    return await session.scalar(
        select(Task).where(Task.team_id == team_id, Task.idempotency_key == key)
    )


async def _same_files(store: ArtifactStore, task: Task, files: list[InputFile]) -> None:
    """A repeated request must bring the files the key's task was given (by path and bytes)."""
    kept = [(a.name, a.sha256) for a in await store.inputs(task.id)]
    if fingerprint(files) != fingerprint(kept):
        raise Conflict(
            "Idempotency-Key was already used for a request with other files",
            details={"task_id": task.id},
        )


def _same_version(task: Task, wanted: str | None) -> bool:
    # The request named a version or range: the task's pinned version must satisfy it.
    if wanted is None or not wanted.strip():
        return True
    pinned = try_parse(task.agent_version)
    return pinned is not None and parse_range(wanted, "body.agent_version").matches(pinned)


async def _replay(
    sessions: async_sessionmaker[AsyncSession],
    temporal: Client,
    settings: Settings,
    task: Task,
    body: TaskCreate,
) -> Task:
    # Fields the request leaves out took defaults when the task was made: only given ones count.
    limits = task.limits or {}
    different = (
        not await same_target(sessions, task, body)
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
        async with read_only(sessions)() as session:
            spec = await load_spec(session, task.agent, task.agent_version)
            others = await recorded_alternatives(session, task)
        try:
            async with asyncio.timeout(settings.workflow_start_timeout_seconds):
                await start_workflow(temporal, settings, task, spec, others)
        except TimeoutError:
            raise Unavailable(
                "Temporal did not confirm the start in time; retry with the same key",
                details={"task_id": task.id},
            ) from None
    return task
