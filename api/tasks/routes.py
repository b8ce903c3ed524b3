"""Task routes: create, list, get, steps, cancel and wait."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response, status
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError

from api.deps import PrincipalDep, RuntimeDep, SessionDep, SettingsDep, TemporalDep, WriteSessionDep
from api.tasks.cancel import cancel_workflow
from api.tasks.schemas import LiveState, StepOut, TaskCreate, TaskOut, TaskPage, Usage
from api.tasks.service import start_task
from cape.auth import Principal
from cape.db.models import Task, TaskStep
from cape.domain import TaskStatus
from cape.errors import Conflict, InvalidInput, NotFound
from cape.settings import Settings

router = APIRouter(prefix="/tasks", tags=["tasks"])
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=256)]


def task_usage(task: Task) -> Usage:
    """The task's usage: the workflow's totals once it ended, the step totals while it runs."""
    if task.usage and task.usage.get("total_tokens"):
        return Usage.model_validate(task.usage)
    prompt, completion = task.prompt_tokens or 0, task.completion_tokens or 0
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        cost_usd=round(task.cost_usd or 0.0, 6),
    )


def task_out(
    task: Task,
    settings: Settings,
    live: LiveState | None = None,
    warnings: list[str] | None = None,
) -> TaskOut:
    """The API view of a task row (with the live workflow state when given)."""
    base = f"{settings.base_url}/v1/tasks/{task.id}"
    return TaskOut(
        id=task.id, agent=task.agent, agent_version=task.agent_version, owner=task.owner,
        status=TaskStatus(task.status), input=task.input, output=task.output, error=task.error,
        usage=task_usage(task), model=task.model, max_steps=task.max_steps,
        limits=task.limits, pending_input=task.pending_input, warnings=warnings or [],
        created_at=task.created_at, started_at=task.started_at, finished_at=task.finished_at,
        last_event_seq=task.last_seq, live=live,
        parent_id=task.parent_id, relation=task.relation, schedule_id=task.schedule_id,
        links={
            "self": base, "steps": f"{base}/steps", "events": f"{base}/events",
            "artifacts": f"{base}/artifacts", "input": f"{base}/input",
            "temporal_ui": settings.workflow_link(task.id),
        },
    )  # fmt: skip


async def owned_task(session: AsyncSession, principal: Principal, task_id: str) -> Task:
    """The caller's task, or 404 (another owner's task is not revealed)."""
    task = await session.get(Task, task_id, populate_existing=True)
    if task is None or task.owner != principal.owner:
        raise NotFound(f"task {task_id!r} not found", details={"task_id": task_id})
    return task


async def _live(temporal: Client, task: Task) -> LiveState | None:
    if TaskStatus(task.status).terminal or task.status == TaskStatus.QUEUED:
        return None  # queued: no worker has it yet, so a query would only wait for its timeout
    try:
        handle = temporal.get_workflow_handle(task.id)
        state: dict[str, Any] = await asyncio.wait_for(
            handle.query("state", result_type=dict), timeout=2.0
        )
    except (RPCError, TimeoutError, WorkflowFailureError):
        return None  # no worker picked it up yet, or it just ended: the row is the truth
    return LiveState.model_validate(state)


async def release(session: AsyncSession) -> None:
    """End the session's transaction and return its connection before waiting on Temporal.

    A request must not sit on a pooled connection while it waits; on SQLite its transaction
    (BEGIN IMMEDIATE) even holds the write lock, which would stall the worker's writes.
    Loaded objects stay readable.
    """
    await session.close()


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TaskOut)
async def create(
    body: TaskCreate,
    response: Response,
    session: WriteSessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKey = None,
) -> TaskOut:
    """Start an agent task on a version of its agent.

    `agent_version` picks a version or range (`^1.2`); by default the agent's default version.
    The resolved version is pinned in the task. A yanked version is refused (409); a deprecated
    one starts with a warning in `warnings`. The input is validated against the version's JSON
    Schema and the budgets against its ceilings (422 names each bad field). With an
    `Idempotency-Key` header, repeating the request returns the same task with status 200.
    """
    started = await start_task(session, temporal, settings, principal, body, idempotency_key)
    response.headers["Location"] = f"/v1/tasks/{started.task.id}"
    if not started.created:
        response.status_code = status.HTTP_200_OK
    return task_out(started.task, settings, warnings=started.warnings)


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (created_at, id) position a list cursor encodes; a bad cursor is a 422."""
    try:
        stamp, task_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        return datetime.fromisoformat(stamp), task_id
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput(
            "cursor is not valid", details=[{"field": "query.cursor", "message": "malformed"}]
        ) from None


@router.get("", response_model=TaskPage)
async def list_tasks(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    status_filter: Annotated[TaskStatus | None, Query(alias="status")] = None,
    agent: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> TaskPage:
    """List the caller's tasks, newest first, filtered by status and agent."""
    query = select(Task).where(Task.owner == principal.owner)
    if status_filter is not None:
        query = query.where(Task.status == status_filter)
    if agent is not None:
        query = query.where(Task.agent == agent)
    if cursor is not None:
        created, task_id = decode_cursor(cursor)
        query = query.where(
            or_(Task.created_at < created, and_(Task.created_at == created, Task.id < task_id))
        )
    rows = list(
        await session.scalars(
            query.order_by(Task.created_at.desc(), Task.id.desc()).limit(limit + 1)
        )
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        raw = f"{last.created_at.isoformat()}|{last.id}"
        next_cursor = base64.urlsafe_b64encode(raw.encode()).decode()
    return TaskPage(items=[task_out(t, settings) for t in rows], next_cursor=next_cursor)


@router.get("/{task_id}", response_model=TaskOut)
async def get_task(
    task_id: str,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: PrincipalDep,
) -> TaskOut:
    """A task, with the workflow's live state while it runs."""
    task = await owned_task(session, principal, task_id)
    await release(session)
    return task_out(task, settings, await _live(temporal, task))


@router.get("/{task_id}/steps", response_model=list[StepOut])
async def list_steps(task_id: str, session: SessionDep, principal: PrincipalDep) -> list[StepOut]:
    """The task's steps in order."""
    await owned_task(session, principal, task_id)
    steps = await session.scalars(
        select(TaskStep).where(TaskStep.task_id == task_id).order_by(TaskStep.step_no)
    )
    return [StepOut.model_validate(step) for step in steps]


@router.post("/{task_id}/cancel", status_code=status.HTTP_202_ACCEPTED, response_model=TaskOut)
async def cancel_task(
    task_id: str,
    runtime: RuntimeDep,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
) -> TaskOut:
    """Ask the task to stop; it ends as `canceled` once its current step is interrupted.

    A task whose workflow already ended in Temporal (terminated there, say) gets that final
    status and a 409 naming it; one whose workflow never started is canceled.
    """
    task = await owned_task(session, principal, task_id)
    if TaskStatus(task.status).terminal:
        raise Conflict(f"task {task_id!r} already ended as {task.status}")
    await release(session)
    task = await cancel_workflow(runtime.reconciler.reconcile, task, principal.owner)
    return task_out(task, settings)


@router.get("/{task_id}/wait", response_model=TaskOut)
async def wait_for_task(
    task_id: str,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    timeout: Annotated[float, Query(gt=0, le=300)] = 30.0,
) -> TaskOut:
    """Wait up to `timeout` seconds for the task to end, then return it (ended or not)."""
    task = await owned_task(session, principal, task_id)
    await release(session)
    if not TaskStatus(task.status).terminal:
        handle = temporal.get_workflow_handle(task_id)
        # A failed or canceled workflow has ended too; the row says how.
        with contextlib.suppress(TimeoutError, WorkflowFailureError):
            await asyncio.wait_for(handle.result(), timeout)
        task = await owned_task(session, principal, task_id)
        await release(session)
    return task_out(task, settings, await _live(temporal, task))
