"""Appending to a task's event log: per-task sequence numbers without gaps or duplicates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Integer, String, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from cape.db.models import utcnow
from cape.db.tables import EVENTS, TASKS
from cape.domain import Channel

NOTIFY_CHANNEL = "cape_task_events"

# Built once, run with parameters: a statement object keeps its compiled form's cache key, so a
# step boundary neither rebuilds its expressions nor recomputes their keys (a third of its CPU).
_MOVE = (
    update(TASKS)
    .where(TASKS.c.id == bindparam("task"))
    .values(last_seq=TASKS.c.last_seq + bindparam("by", type_=Integer))
)
_BUMP = _MOVE.returning(TASKS.c.last_seq)
_SEEN = select(EVENTS.c.dedupe_key).where(
    EVENTS.c.task_id == bindparam("task"),
    EVENTS.c.dedupe_key.in_(bindparam("keys", expanding=True)),
)
_INSERT = insert(EVENTS)
_NOTIFY = select(func.pg_notify(NOTIFY_CHANNEL, bindparam("task", type_=String)))


@dataclass(frozen=True)
class NewEvent:
    """One event to append (see `append_events`)."""

    channel: Channel
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    step_no: int | None = None
    dedupe_key: str | None = None


async def append_event(
    session: AsyncSession,
    task_id: str,
    *,
    channel: Channel,
    type: str,
    data: dict[str, Any],
    step_no: int | None = None,
    dedupe_key: str | None = None,
) -> int | None:
    """Append one event inside the caller's transaction and return its sequence number.

    None when an event with `dedupe_key` is already there (see `append_events`).
    """
    event = NewEvent(channel, type, data, step_no, dedupe_key)
    return (await append_events(session, task_id, [event]))[0]


async def append_events(
    session: AsyncSession, task_id: str, events: Sequence[NewEvent]
) -> list[int | None]:
    """Append `events`, in order, inside the caller's transaction; their sequence numbers.

    See `append_events_now`, which this runs in the session's transaction.
    """
    if not events:
        return []
    return await session.run_sync(append_events_now, task_id, events)


def append_events_now(
    session: Session, task_id: str, events: Sequence[NewEvent]
) -> list[int | None]:
    """`append_events` on a synchronous session (a whole transaction run by `cape.db.writes`).

    The counter bump comes first: it takes the task row's write lock, so concurrent writers of
    one task commit in sequence order and a reader tailing by `seq` never skips a number.
    An event whose `dedupe_key` is already present is left out (None in the result) and the
    bump is cut back, which makes re-executed writes (an activity retried after a crash)
    no-ops. However many events, this is at most four statements.
    """
    if not events:
        return []
    bumped = session.execute(_BUMP, {"task": task_id, "by": len(events)})
    first = int(bumped.scalar_one()) - len(events) + 1
    keys = [e.dedupe_key for e in events if e.dedupe_key is not None]
    seen: set[str] = set()
    if keys:
        found = session.scalars(_SEEN, {"task": task_id, "keys": keys})
        seen = {key for key in found if key is not None}
    seqs: list[int | None] = []
    kept = 0
    for event in events:
        fresh = event.dedupe_key is None or event.dedupe_key not in seen
        seqs.append(first + kept if fresh else None)
        kept += fresh
    if kept < len(events):
        session.execute(_MOVE, {"task": task_id, "by": kept - len(events)})
    if kept:
        numbered = [(e, seq) for e, seq in zip(events, seqs, strict=True) if seq is not None]
        _insert(session, task_id, numbered)
    return seqs


async def first_event(session: AsyncSession, task_id: str, event: NewEvent) -> None:
    """Append the first event of a task whose row this transaction inserted with `last_seq` 1.

    Nothing can precede it, so it takes sequence number 1 with no counter bump and no dedupe
    lookup: one statement instead of three (a new task's `task-created`).
    """
    await session.run_sync(_insert, task_id, [(event, 1)])


def _insert(session: Session, task_id: str, numbered: Sequence[tuple[NewEvent, int]]) -> None:
    now = utcnow()
    rows = [
        {
            "task_id": task_id,
            "seq": seq,
            "step_no": event.step_no,
            "channel": str(event.channel),
            "type": event.type,
            "data": event.data,
            "dedupe_key": event.dedupe_key,
            "ts": now,
        }
        for event, seq in numbered
    ]
    # A Core insert: events are append-only, so the ORM's unit of work would only cost CPU.
    session.execute(_INSERT, rows)
    if session.get_bind().dialect.name == "postgresql":
        # Delivered at commit; listeners then read the new rows by seq.
        session.execute(_NOTIFY, {"task": task_id})
