"""Operating a task after it started: pause, resume, retry (Temporal reset) and rerun."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError

from api.tasks.files import input_refs
from api.tasks.schemas import RerunBody, TaskCreate
from api.tasks.service import Started, start_task
from cape.artifacts import ArtifactStore
from cape.auth import Principal
from cape.db.events import append_event
from cape.db.models import Task
from cape.domain import Channel, EventType, TaskStatus
from cape.errors import Conflict, Unavailable
from cape.settings import Settings
from workflows.agent_task import AgentTaskWorkflow
from workflows.types import PauseRequest

log = structlog.get_logger(__name__)
STEP_ACTIVITIES = {"setup_workspace", "restore_workspace", "call_llm", "run_tool"}


async def signal_pause(
    sessions: async_sessionmaker[AsyncSession],
    temporal: Client,
    task: Task,
    pause: bool,
    by: str,
    note: str,
) -> None:
    """Ask the workflow to pause at its next step boundary, or to carry on.

    Once the workflow took the signal the row says so (`pause_requested`), so that a GET
    shows a pause asked for and not reached yet without querying the workflow.
    """
    status = TaskStatus(task.status)
    if pause and status not in (TaskStatus.QUEUED, TaskStatus.RUNNING):
        raise Conflict(f"task {task.id!r} is {status}; only a queued or running task can pause")
    if not pause and status.terminal:
        raise Conflict(f"task {task.id!r} already ended as {status}")
    handle = temporal.get_workflow_handle_for(AgentTaskWorkflow.run, task.id)
    signal = AgentTaskWorkflow.pause if pause else AgentTaskWorkflow.resume
    try:
        await handle.signal(signal, PauseRequest(by=by, note=note))
    except RPCError as exc:
        raise Unavailable("could not reach the task's workflow", details=str(exc)) from exc
    async with sessions.begin() as session:
        await session.execute(update(Task).where(Task.id == task.id).values(pause_requested=pause))
    task.pause_requested = pause


def reset_point(history: WorkflowHistory) -> tuple[int, str]:
    """The workflow task that scheduled the last failed step: resetting to it runs that step again.

    Returns the event id to reset to and the step's summary (e.g. `tool: shell`).
    """
    scheduled = {}
    failed: int | None = None
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            scheduled[event.event_id] = event
        for field in (
            "activity_task_failed_event_attributes",
            "activity_task_timed_out_event_attributes",
        ):
            if event.HasField(field):
                scheduled_id = getattr(event, field).scheduled_event_id
                kind = scheduled[scheduled_id].activity_task_scheduled_event_attributes
                if kind.activity_type.name in STEP_ACTIVITIES:
                    failed = scheduled_id
    if failed is None:
        raise Conflict("the task's history has no failed step to retry from")
    event = scheduled[failed]
    summary = event.user_metadata.summary.data.decode(errors="replace").strip('"')
    return event.activity_task_scheduled_event_attributes.workflow_task_completed_event_id, summary


async def retry_task(
    sessions: async_sessionmaker[AsyncSession], temporal: Client, task: Task, by: str
) -> str:
    """Reset the failed task's workflow to just before its failed step; returns the new run id.

    Steps that finished are not run again (their results are in the kept history); the failed
    step rewinds the workspace to the snapshot before it when it runs again.
    """
    if task.status != TaskStatus.FAILED:
        raise Conflict(
            f"task {task.id!r} is {task.status}; only a failed task can be retried",
            details={"status": task.status},
        )
    try:
        history = await temporal.get_workflow_handle(task.id).fetch_history()
    except RPCError as exc:
        raise Unavailable("could not read the task's history", details=str(exc)) from exc
    point, step = reset_point(history)
    error, finished_at = task.error, task.finished_at
    await _reopen(sessions, task, step, by)
    try:
        reply = await temporal.workflow_service.reset_workflow_execution(
            ResetWorkflowExecutionRequest(
                namespace=temporal.namespace,
                workflow_execution=WorkflowExecution(workflow_id=task.id, run_id=history.run_id),
                reason=f"retry from {step} (by {by})",
                workflow_task_finish_event_id=point,
                request_id=uuid.uuid4().hex,
            )
        )
    except RPCError as exc:
        await _reclose(sessions, task.id, error, finished_at)
        raise Unavailable("Temporal refused the reset", details=str(exc)) from exc
    log.info("task retried", task_id=task.id, step=step, run_id=reply.run_id)
    return reply.run_id


async def _reopen(
    sessions: async_sessionmaker[AsyncSession], task: Task, step: str, by: str
) -> None:
    async with sessions.begin() as session:
        await append_event(
            session,
            task.id,
            channel=Channel.LIFECYCLE,
            type=EventType.TASK_RETRIED,
            data={"from_step": step, "by": by, "previous_error": task.error},
        )
        await session.execute(
            update(Task)
            .where(Task.id == task.id)
            .values(status=TaskStatus.RUNNING, error=None, finished_at=None)
        )


async def _reclose(
    sessions: async_sessionmaker[AsyncSession],
    task_id: str,
    error: dict[str, Any] | None,
    finished_at: datetime | None,
) -> None:
    async with sessions.begin() as session:
        await session.execute(
            update(Task)
            .where(Task.id == task_id)
            .values(status=TaskStatus.FAILED, error=error, finished_at=finished_at)
        )


async def rerun_task(
    sessions: async_sessionmaker[AsyncSession],
    temporal: Client,
    settings: Settings,
    principal: Principal,
    store: ArtifactStore,
    old: Task,
    change: RerunBody,
) -> Started:
    """Start a new task like `old` (agent, input, model, budgets, files) with `change` applied."""
    limits = old.limits or {}
    request = TaskCreate(
        agent=old.agent,
        agent_version=change.agent_version,
        input=change.input if change.input is not None else old.input,
        model=change.model or old.model,
        max_steps=change.max_steps or old.max_steps,
        max_tokens=limits.get("max_tokens"),
        max_cost=limits.get("max_cost"),
        files=await input_refs(store, old.id) or None,
    )
    return await start_task(
        sessions, temporal, settings, principal, request, None, parent=(old.id, "rerun"),
        store=store,
    )  # fmt: skip
