"""A running task's progress as its rows hold it: the `live` block without asking the workflow.

The workflow's `state` query needs a worker to answer (a workflow task on the busy worker, a
replay when the run was evicted), which made every GET of a running task as slow as the
worker. Everything it shows is written at step boundaries anyway: status, usage, budgets and
the pending question on the task row, steps and turns in `task_steps` (by the step recorder),
model switches as `model-fallback` events. The three details the workflow alone decides are
on the row too: `pause_requested` (written by the pause and resume routes once the workflow took
the signal), `runs` (written by the first step of each continued run) and `deadline` (written
by the setup step from the workflow's own value).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.tasks.schemas import LiveState
from api.tasks.views import task_usage
from cape.contracts.records import Budgets, Fallback
from cape.db.models import Task, TaskEvent, TaskStep
from cape.domain import EventType, StepKind, StepStatus, TaskStatus


def running(task: Task) -> bool:
    """Whether the task has a live state: a worker took it and it has not ended."""
    return not TaskStatus(task.status).terminal and task.status != TaskStatus.QUEUED


async def row_state(reads: async_sessionmaker[AsyncSession], task: Task) -> LiveState | None:
    """The `live` block from the database; None when the task is queued or ended (as before)."""
    if not running(task):
        return None
    llm = TaskStep.kind == StepKind.LLM
    # The latest step's name, as a subquery of its own: not correlated with the outer query
    # (both read task_steps), so it is one statement on the (task_id, step_no) index.
    last = (
        select(TaskStep.name)
        .where(*_own_steps(task))
        .order_by(TaskStep.step_no.desc())
        .limit(1)
        .correlate(None)
        .scalar_subquery()
    )
    progress = select(
        func.count(),
        func.coalesce(func.sum(case((and_(llm, TaskStep.status == StepStatus.SUCCEEDED), 1))), 0),
        func.coalesce(func.sum(case((and_(llm, TaskStep.status == StepStatus.FAILED), 1))), 0),
        last,
    ).where(*_own_steps(task))
    async with reads() as session:
        steps, turns, failed_turns, current = (await session.execute(progress)).one()
        # Only a failed LLM step can have handed its turn to a fallback model.
        fallbacks = await _fallbacks(session, task.id) if failed_turns else []
    model = task.model
    if fallbacks:
        # `to` is `provider/model`; the workflow's `model` is the name alone.
        model = fallbacks[-1]["to"].split("/", 1)[-1]
    return LiveState(
        status=task.status,
        current_step=current,
        steps=steps,
        llm_turns=turns,
        usage=task_usage(task),
        paused=task.status == TaskStatus.PAUSED or task.pause_requested,
        model=model,
        limits=_budgets(task),
        pending_input=task.pending_input,  # a PendingQuestion as the workflow stored it
        fallbacks=fallbacks,
        runs=task.runs,
    )


def _own_steps(task: Task) -> list[ColumnElement[bool]]:
    # A fork's copies of its parent's steps (2 .. fork_step - 1) were not run by its workflow,
    # which counts neither them nor their turns.
    own = [TaskStep.task_id == task.id]
    if task.fork_step:
        own.append(or_(TaskStep.step_no == 1, TaskStep.step_no >= task.fork_step))
    return own


async def _fallbacks(session: AsyncSession, task_id: str) -> list[Fallback]:
    query = (
        select(TaskEvent.data)
        .where(TaskEvent.task_id == task_id, TaskEvent.type == EventType.MODEL_FALLBACK)
        .order_by(TaskEvent.seq)
    )
    return [_fallback(data) for data in await session.scalars(query)]


def _fallback(data: dict[str, Any]) -> Fallback:
    return {"from": data["from"], "to": data["to"], "reason": data["reason"], "step": data["step"]}


def _budgets(task: Task) -> Budgets:
    # A scheduled run's row keeps no limits (they are in its workflow input): its max_steps is.
    limits = task.limits or {}
    budgets: Budgets = {
        "max_steps": int(limits.get("max_steps") or task.max_steps),
        "max_tokens": limits.get("max_tokens"),
        "max_cost": limits.get("max_cost"),
    }
    if task.deadline is not None:
        budgets["deadline"] = _utc(task.deadline).isoformat()  # as the workflow wrote it
    return budgets


def _utc(moment: datetime) -> datetime:
    # SQLite hands back a naive datetime (stored in UTC), PostgreSQL the session's time zone.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def lock_wait(reads: async_sessionmaker[AsyncSession], task: Task) -> dict[str, Any] | None:
    """What a `queued` task waits for (a lock), or a running one (a delegated task's question).

    A queued task's last `lock-waiting` event, unless a `lock-acquired` came after it; a
    running task's last `child-waiting`, unless that child went on since (docs/multi-agent.md).
    """
    if task.status == TaskStatus.RUNNING:
        return await child_wait(reads, task)
    if task.status != TaskStatus.QUEUED:
        return None
    kinds = (EventType.LOCK_WAITING, EventType.LOCK_ACQUIRED)
    async with reads() as session:
        last = await session.scalar(
            select(TaskEvent)
            .where(TaskEvent.task_id == task.id, TaskEvent.type.in_(kinds))
            .order_by(TaskEvent.seq.desc())
            .limit(1)
        )
    if last is None or last.type != EventType.LOCK_WAITING:
        return None
    return dict(last.data)


CHILD_MOVED = (EventType.CHILD_PROGRESS, EventType.CHILD_FINISHED)


async def child_wait(reads: async_sessionmaker[AsyncSession], task: Task) -> dict[str, Any] | None:
    """The question a task it delegated waits on (an approval, a budget), None when none does."""
    async with reads() as session:
        asked = await session.scalar(
            select(TaskEvent)
            .where(TaskEvent.task_id == task.id, TaskEvent.type == EventType.CHILD_WAITING)
            .order_by(TaskEvent.seq.desc())
            .limit(1)
        )
        if asked is None:
            return None
        since = await session.scalars(
            select(TaskEvent.data).where(
                TaskEvent.task_id == task.id,
                TaskEvent.seq > asked.seq,
                TaskEvent.type.in_(CHILD_MOVED),
            )
        )
        child = asked.data.get("child_id")
        if any(data.get("child_id") == child for data in since):
            return None
    pending = asked.data.get("pending") or {}
    what = pending.get("kind", "input") + (f" of {pending['tool']}" if "tool" in pending else "")
    return {"child_id": child, "pending": pending,
            "reason": f"delegated task {child} waits for {what}"}  # fmt: skip
