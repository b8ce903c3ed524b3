"""Recording a step's row and lifecycle events, idempotently across retries and crashes."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Float, Integer, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.types import StepRef, Usage
from cape.contracts.failures import Failure
from cape.contracts.records import StepError
from cape.db.events import NewEvent, append_event, append_events_now
from cape.db.models import TaskStep, utcnow
from cape.db.tables import STEPS, TASKS
from cape.db.writes import write
from cape.domain import Channel, EventType, StepStatus
from cape.tasks.parent_events import tell_parent_now

Event = tuple[Channel, str, dict[str, Any]]

# Statements built once and run with parameters (see `cape.db.events`): a step boundary is a
# handful of rows, and building and keying these expressions anew cost more than running them.
_STATE = select(
    STEPS.c.id, STEPS.c.status, STEPS.c.attempt, STEPS.c.output, STEPS.c.started_at,
    STEPS.c.finished_at,
).where(STEPS.c.task_id == bindparam("task"), STEPS.c.step_no == bindparam("no"))  # fmt: skip
_STATE_LOCKED = _STATE.with_for_update()
_NEW_STEP = insert(STEPS)
_SET_STEP = update(STEPS).where(STEPS.c.id == bindparam("row"))
_SET_TASK = update(TASKS).where(TASKS.c.id == bindparam("task"))
_ADD_USAGE = _SET_TASK.values(
    prompt_tokens=TASKS.c.prompt_tokens + bindparam("prompt", type_=Integer),
    completion_tokens=TASKS.c.completion_tokens + bindparam("completion", type_=Integer),
    cost_usd=TASKS.c.cost_usd + bindparam("cost", type_=Float),
)


@dataclass
class Started:
    """How `StepRecorder.start` found the step."""

    done: dict[str, Any] | None  # the stored output when the step had already finished
    again: bool  # an earlier execution began and did not finish: this one runs it again


class StepRecorder:
    """Writes `task_steps` rows and their `step-*` events for the running activity."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def begin(self, ref: StepRef, step_input: dict[str, Any]) -> dict[str, Any] | None:
        """Mark the step running for this attempt and emit `step-started`.

        Returns the stored output when the step already finished: its completion was written
        here but never reached Temporal (the worker died in between), so the work is not redone
        and no event is written twice.
        """
        return (await self.start(ref, step_input)).done

    async def start(
        self,
        ref: StepRef,
        step_input: dict[str, Any],
        *,
        before: Callable[[Session], None] | None = None,
    ) -> Started:
        """`begin`, also telling whether an earlier execution of the step never finished.

        That is a retried attempt, or the failed step of a task run again after a reset.
        `before` writes in the same transaction, first (one transaction per step boundary).
        """
        attempt, run = activity.info().attempt, _run()
        now = utcnow()

        def work(session: Session) -> Started:
            if before is not None:
                before(session)
            if ref.runs:  # the first step of a continued run: the row shows the runs so far
                session.execute(_SET_TASK, {"task": ref.task_id, "runs": ref.runs})
            # Core statements: a step boundary is a handful of rows, the ORM would only cost CPU.
            row = session.execute(_STATE, _keys(ref)).one_or_none()
            if row is not None and row.output is not None and row.finished_at is not None:
                return Started(done=row.output, again=False)
            if row is not None and _superseded_by(row.status, row.attempt, attempt):
                raise _stale(ref, attempt)
            values: dict[str, Any] = {
                "kind": ref.kind,
                "status": StepStatus.RUNNING,
                "attempt": attempt,
                "input": step_input,
                "error": None,
            }
            if row is None:
                new = {"task_id": ref.task_id, "step_no": ref.step_no, "name": ref.name}
                session.execute(_NEW_STEP, {**new, "started_at": now, **values})
            else:
                again = {"row": row.id, "started_at": row.started_at or now}
                session.execute(_SET_STEP, {**again, **values})
            data = {"name": ref.name, "kind": ref.kind, "attempt": attempt}
            key = f"step:{ref.step_no}:started:{run}:{attempt}"
            event = NewEvent(Channel.LIFECYCLE, EventType.STEP_STARTED, data, ref.step_no, key)
            append_events_now(session, ref.task_id, [event])
            return Started(done=None, again=row is not None or attempt > 1)

        # One go: on SQLite the write lock is not held across event-loop cycles.
        return await write(self.sessions, work)

    async def stored(self, ref: StepRef) -> dict[str, Any] | None:
        """The step's output once it finished (None while it runs or before it began)."""
        async with self.sessions() as session:
            row = (await session.execute(_STATE, _keys(ref))).one_or_none()
        return row.output if row is not None and row.finished_at is not None else None

    async def emit(self, ref: StepRef, channel: Channel, type: str, data: dict[str, Any]) -> None:
        """Write one event of this step in its own transaction."""
        await self.emit_all(ref, [(channel, type, data)])

    async def emit_all(self, ref: StepRef, events: Sequence[Event]) -> None:
        """Write events of this step, in order, in one transaction."""
        batch = [NewEvent(channel, type_, data, ref.step_no) for channel, type_, data in events]
        await write(self.sessions, lambda session: append_events_now(session, ref.task_id, batch))

    async def finish(
        self,
        ref: StepRef,
        output: Mapping[str, Any],
        *,
        status: StepStatus = StepStatus.SUCCEEDED,
        usage: Usage | None = None,
        events: Sequence[Event] = (),
        started_by_other: bool = False,
    ) -> None:
        """Store the output, then emit `events` and `step-finished` in the same transaction.

        `started_by_other`: another activity began the step (a delegated task's: its start,
        then its result), so this one's attempt number says nothing of the step's.
        """
        attempt, run = activity.info().attempt, _run()
        # Everything that does not depend on the row is computed before the transaction.
        batch = [NewEvent(channel, type_, data, ref.step_no) for channel, type_, data in events]
        stored = {
            "status": status,
            "output": dict(output),
            "finished_at": utcnow(),
            "usage": usage.__dict__ if usage else None,
            "error": output.get("error") if status != StepStatus.SUCCEEDED else None,
        }
        # A delegated task's step end is its parent's progress too (no tokens, one event).
        progress = {"step_no": ref.step_no, "name": ref.name, "kind": ref.kind, "status": status}

        def work(session: Session) -> None:
            row = session.execute(_STATE_LOCKED, _keys(ref)).one_or_none()
            assert row is not None, "begin() always creates the row"
            if row.finished_at is not None and row.output is not None:
                return  # another attempt finished the step first: record nothing twice
            step_attempt = attempt
            if started_by_other:
                step_attempt = row.attempt
            elif _superseded_by(row.status, row.attempt, attempt):
                raise _stale(ref, attempt)
            finished = {"name": ref.name, "kind": ref.kind, "attempt": step_attempt,
                        "status": status}  # fmt: skip
            key = f"step:{ref.step_no}:finished:{run}"
            last = NewEvent(Channel.LIFECYCLE, EventType.STEP_FINISHED, finished, ref.step_no, key)
            append_events_now(session, ref.task_id, [*batch, last])
            tell_parent_now(
                session, ref.task_id, EventType.CHILD_PROGRESS, progress, f"{ref.step_no}:{run}"
            )
            session.execute(_SET_STEP, {"row": row.id, **stored})
            if usage is not None:
                # In the step's own transaction: totals count each finished step exactly once.
                added = {"prompt": usage.prompt_tokens, "completion": usage.completion_tokens}
                session.execute(_ADD_USAGE, {"task": ref.task_id, **added, "cost": usage.cost_usd})

        await write(self.sessions, work)

    async def redone(self, ref: StepRef, output: Mapping[str, Any], event: Event) -> None:
        """Store the output of a finished step done again elsewhere, with the task-level `event`.

        The step's first result was written but never reached the workflow (its worker died in
        between), and this attempt had to do the work again on another host. The step keeps its
        one `step-finished`; `event` (no step number: the step itself has ended) says why the
        output changed.
        """
        attempt, run = activity.info().attempt, _run()
        channel, type_, data = event
        key = f"step:{ref.step_no}:{type_}:{run}:{attempt}"
        note = NewEvent(channel, type_, {**data, "step": ref.step_no}, None, key)

        def work(session: Session) -> None:
            row = session.execute(_STATE_LOCKED, _keys(ref)).one()
            session.execute(_SET_STEP, {"row": row.id, "output": dict(output)})
            append_events_now(session, ref.task_id, [note])

        await write(self.sessions, work)

    async def fail(self, ref: StepRef, error: StepError, *, retrying: bool) -> None:
        """Record an attempt's failure: `step-retrying` when Temporal will retry, else failed."""
        attempt = activity.info().attempt
        status = StepStatus.RETRYING if retrying else StepStatus.FAILED
        type_ = EventType.STEP_RETRYING if retrying else EventType.STEP_FAILED
        async with self.sessions.begin() as session:
            current = await _step_row(session, ref, lock=True)
            if current is not None and (
                current.finished_at is not None or _superseded(current, attempt)
            ):
                return
            await append_event(
                session,
                ref.task_id,
                channel=Channel.LIFECYCLE,
                type=type_,
                data={"name": ref.name, "kind": ref.kind, "attempt": attempt, "error": error},
                step_no=ref.step_no,
                dedupe_key=f"step:{ref.step_no}:{type_}:{_run()}:{attempt}",
            )
            row = await _step_row(session, ref)
            if row is not None:
                row.status, row.error = status, dict(error)
                if not retrying:
                    row.finished_at = utcnow()


def _run() -> str:
    # Keys are per workflow run: a retried task (Temporal reset: a new run) runs the failed step
    # again and must record it again, while a crash within one run must not record it twice.
    return activity.info().workflow_run_id or ""


async def _step_row(session: AsyncSession, ref: StepRef, lock: bool = False) -> TaskStep | None:
    query = select(TaskStep).where(TaskStep.task_id == ref.task_id, TaskStep.step_no == ref.step_no)
    return await session.scalar(query.with_for_update() if lock else query)


def _keys(ref: StepRef) -> dict[str, Any]:
    return {"task": ref.task_id, "no": ref.step_no}


def _superseded(row: TaskStep | None, attempt: int) -> bool:
    return row is not None and _superseded_by(row.status, row.attempt, attempt)


def _superseded_by(status: str, row_attempt: int, attempt: int) -> bool:
    # A newer attempt runs: Temporal timed this one out (its worker stalled past the heartbeat
    # timeout) and ignores its result; what it wrote now would double the step's events.
    return status in (StepStatus.RUNNING, StepStatus.RETRYING) and row_attempt > attempt


def _stale(ref: StepRef, attempt: int) -> ApplicationError:
    return ApplicationError(
        f"step {ref.step_no}: attempt {attempt} was superseded by a newer attempt",
        type=Failure.STEP_SUPERSEDED,
        non_retryable=True,
    )
