"""Recording a task's final status: the row, its open steps and the final event, at once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from cape.db.events import NewEvent, append_events_now
from cape.db.models import Task, TaskStep, utcnow
from cape.domain import TERMINAL_TASK_STATUSES, Channel, EventType, StepStatus, TaskStatus

FINISH_EVENTS = {
    TaskStatus.SUCCEEDED: EventType.TASK_SUCCEEDED,
    TaskStatus.FAILED: EventType.TASK_FAILED,
    TaskStatus.CANCELED: EventType.TASK_CANCELED,
    TaskStatus.TIMED_OUT: EventType.TASK_TIMED_OUT,
}
UNFINISHED = (StepStatus.QUEUED, StepStatus.RUNNING, StepStatus.RETRYING)


def record_finish(
    session: Session,
    task_id: str,
    status: TaskStatus,
    *,
    run_id: str,
    output: dict[str, Any] | None = None,
    error: Mapping[str, object] | None = None,
    usage: dict[str, Any] | None = None,
    only_open: bool = False,
) -> bool:
    """Store `status` with its result, close the steps left open and append the final event.

    Runs in the caller's transaction, on its synchronous session (`run_sync`, or
    `cape.db.writes.write`). The event's dedupe key is per workflow run, so the
    workflow's own finish and a reconciler's repair of the same run write one event between
    them. With `only_open` a row that already ended is left alone (returns False).
    """
    values: dict[str, Any] = {
        "status": status,
        "output": output,
        "error": error,
        "pending_input": None,
        "finished_at": utcnow(),
    }
    if usage is not None:
        values["usage"] = usage
    query = update(Task).where(Task.id == task_id)
    if only_open:
        query = query.where(Task.status.not_in([str(s) for s in TERMINAL_TASK_STATUSES]))
    changed = session.execute(query.values(**values).returning(Task.id))
    if changed.scalar_one_or_none() is None:
        return False
    data = {"status": status, "output": output, "error": error}
    key = f"task-finished:{run_id}"
    append_events_now(
        session, task_id, [NewEvent(Channel.LIFECYCLE, FINISH_EVENTS[status], data, None, key)]
    )
    step_status = StepStatus.CANCELED if status == TaskStatus.CANCELED else StepStatus.FAILED
    session.execute(
        update(TaskStep)
        .where(TaskStep.task_id == task_id, TaskStep.status.in_(UNFINISHED))
        .values(status=step_status, finished_at=utcnow())
    )
    return True
