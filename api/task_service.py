"""Starting tasks: the row, the first event and the workflow, idempotently."""

from __future__ import annotations

import hashlib
import uuid

import structlog
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError

from api.schemas import TaskCreate
from api.task_input import start_workflow
from cape.agents import get_agent, validate_input
from cape.auth import Principal
from cape.db.events import append_event
from cape.db.models import Task
from cape.domain import Channel, EventType, TaskStatus
from cape.errors import Conflict, Unavailable
from cape.settings import Settings

log = structlog.get_logger(__name__)


def new_task_id(owner: str, idempotency_key: str | None) -> str:
    """A fresh id, or one derived from the key so a retried start finds the same workflow."""
    if idempotency_key is None:
        return f"task_{uuid.uuid4().hex}"
    digest = hashlib.sha256(f"{owner}\0{idempotency_key}".encode()).hexdigest()
    return f"task_{digest[:32]}"


async def create_task(
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    principal: Principal,
    body: TaskCreate,
    idempotency_key: str | None,
    parent: tuple[str, str] | None = None,
) -> tuple[Task, bool]:
    """Create the task and start its workflow; return (task, created).

    With an `Idempotency-Key` already used by this owner the existing task is returned (and
    its workflow started if an earlier attempt died before starting it); the same key with a
    different request is a 409.
    """
    agent = get_agent(body.agent)
    validate_input(agent, body.input)
    if idempotency_key is not None:
        existing = await _by_key(session, principal.owner, idempotency_key)
        if existing is not None:
            return await _replay(temporal, settings, existing, body), False
    task = Task(
        id=new_task_id(principal.owner, idempotency_key),
        agent=agent.name,
        agent_version=agent.version,
        owner=principal.owner,
        status=TaskStatus.QUEUED,
        input=body.input,
        model=body.model or settings.default_model,
        max_steps=body.max_steps or settings.max_steps,
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
                "agent": agent.name,
                "agent_version": agent.version,
                "model": task.model,
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
        return await _replay(temporal, settings, existing, body), False
    try:
        await start_workflow(temporal, settings, task)
    except (RPCError, RuntimeError) as exc:  # RuntimeError: the lazy client never connected
        # Without a workflow the row would be a task that never runs: remove it so the
        # client's retry (same Idempotency-Key or not) starts cleanly.
        await session.execute(delete(Task).where(Task.id == task.id))
        await session.commit()
        raise Unavailable(
            "could not start the task: Temporal is unavailable", details=str(exc)
        ) from exc
    log.info("task created", task_id=task.id, agent=agent.name)
    return task, True


async def _by_key(session: AsyncSession, owner: str, key: str) -> Task | None:
    return await session.scalar(
        select(Task).where(Task.owner == owner, Task.idempotency_key == key)
    )


async def _replay(temporal: Client, settings: Settings, task: Task, body: TaskCreate) -> Task:
    # Fields the request leaves out took defaults when the task was made: only given ones count.
    different = (
        task.agent != body.agent
        or task.input != body.input
        or (body.model is not None and body.model != task.model)
        or (body.max_steps is not None and body.max_steps != task.max_steps)
    )
    if different:
        raise Conflict(
            "Idempotency-Key was already used for a different request",
            details={"task_id": task.id},
        )
    if task.status == TaskStatus.QUEUED:
        await start_workflow(temporal, settings, task)
    return task
