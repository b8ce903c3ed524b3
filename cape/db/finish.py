"""Recording a task's final status: the row, its open steps and the final event, at once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from cape.db.events import NewEvent, append_events_now
from cape.db.models import utcnow
from cape.db.tables import STEPS, TASKS
from cape.domain import TERMINAL_TASK_STATUSES, Channel, EventType, StepStatus, TaskStatus

FINISH_EVENTS = {
    TaskStatus.SUCCEEDED: EventType.TASK_SUCCEEDED,
    TaskStatus.FAILED: EventType.TASK_FAILED,
    TaskStatus.CANCELED: EventType.TASK_CANCELED,
    TaskStatus.TIMED_OUT: EventType.TASK_TIMED_OUT,
}
UNFINISHED = (StepStatus.QUEUED, StepStatus.RUNNING, StepStatus.RETRYING)
# Built once, run with parameters (see `cape.db.events`).
_FINISH = update(TASKS).where(TASKS.c.id == bindparam("task")).returning(TASKS.c.id)
_FINISH_OPEN = _FINISH.where(TASKS.c.status.not_in([str(s) for s in TERMINAL_TASK_STATUSES]))
_CLOSE_STEPS = update(STEPS).where(
    STEPS.c.task_id == bindparam("task"), STEPS.c.status.in_([str(s) for s in UNFINISHED])
)


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
    query = _FINISH_OPEN if only_open else _FINISH
    changed = session.execute(query, {"task": task_id, **values})
    if changed.scalar_one_or_none() is None:
        return False
    data = {"status": status, "output": output, "error": error}
    key = f"task-finished:{run_id}"
    append_events_now(
        session, task_id, [NewEvent(Channel.LIFECYCLE, FINISH_EVENTS[status], data, None, key)]
    )
    step_status = StepStatus.CANCELED if status == TaskStatus.CANCELED else StepStatus.FAILED
    session.execute(_CLOSE_STEPS, {"task": task_id, "status": step_status, "finished_at": utcnow()})
    return True
