"""Appending to a task's event log: per-task sequence numbers without gaps or duplicates."""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cape.db.models import Task, TaskEvent, utcnow
from cape.domain import Channel

NOTIFY_CHANNEL = "cape_task_events"


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

    The counter bump comes first: it takes the task row's write lock, so concurrent writers of
    one task commit in sequence order and a reader tailing by `seq` never skips a number.
    With a `dedupe_key` already present the bump is undone and None is returned, which makes
    re-executed writes (an activity retried after a crash) no-ops.
    """
    bumped = await session.execute(
        update(Task)
        .where(Task.id == task_id)
        .values(last_seq=Task.last_seq + 1)
        .returning(Task.last_seq)
    )
    seq = bumped.scalar_one()
    if dedupe_key is not None:
        seen = await session.scalar(
            select(exists().where(TaskEvent.task_id == task_id, TaskEvent.dedupe_key == dedupe_key))
        )
        if seen:
            await session.execute(
                update(Task).where(Task.id == task_id).values(last_seq=Task.last_seq - 1)
            )
            return None
    # A Core insert: events are append-only, so the ORM's unit of work would only cost CPU.
    await session.execute(
        insert(TaskEvent).values(
            task_id=task_id,
            seq=seq,
            step_no=step_no,
            channel=str(channel),
            type=type,
            data=data,
            dedupe_key=dedupe_key,
            ts=utcnow(),
        )
    )
    if session.get_bind().dialect.name == "postgresql":
        # Delivered at commit; listeners then read the new rows by seq.
        await session.execute(select(func.pg_notify(NOTIFY_CHANNEL, task_id)))
    return int(seq)
