"""Storing a published event: the one place an `Event` row is built (API, hooks, tasks).

A task's `publish_event` goes through here too, with its cause: the event that started the
task (if any) and the task, so the chain's depth is known to the loop guard.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cape.contracts.events import EventRegistration
from cape.db.event_models import Event
from cape.db.models import Task, utcnow
from cape.events.ids import EventStatus, new_event_id


@dataclass(frozen=True)
class NewEvent:
    """What a publisher gives: the event and who publishes it, in which team."""

    team_id: str
    published_by: str
    type: str
    data: dict[str, Any]
    priority: str = "normal"
    source: str | None = None
    dedupe_key: str | None = None
    occurred_at: datetime | None = None
    causation_id: str | None = None
    causation_task_id: str | None = None
    depth: int = 0


async def store_event(session: AsyncSession, new: NewEvent) -> tuple[Event, bool]:
    """Commit the `pending` event, or find the team's event with its dedupe_key.

    Returns the event and whether it is new. Safe under concurrent publishes of one key: the
    unique (team, dedupe_key) lets one insert win and the others read it.
    """
    found = await by_key(session, new.team_id, new.dedupe_key)
    if found is not None:
        return found, False
    event = Event(
        id=new_event_id(), team_id=new.team_id, type=new.type, data=new.data,
        priority=new.priority, source=new.source, dedupe_key=new.dedupe_key,
        published_by=new.published_by, occurred_at=new.occurred_at or utcnow(),
        published_at=utcnow(), status=EventStatus.PENDING, causation_id=new.causation_id,
        causation_task_id=new.causation_task_id, depth=new.depth,
    )  # fmt: skip
    session.add(event)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        found = await by_key(session, new.team_id, new.dedupe_key)
        if found is None:
            raise
        return found, False
    return event, True


async def register_scheduled(session: AsyncSession, event_id: str, reg: EventRegistration) -> None:
    """Add the row of a schedule's event `event_id` unless a retried activity already did."""
    if await session.get(Event, event_id) is not None:
        return
    now = utcnow()
    session.add(
        Event(
            id=event_id, team_id=reg.team_id, type=reg.type, data=reg.data,
            priority=reg.priority, source=f"schedule:{reg.schedule_id}",
            published_by=reg.published_by, occurred_at=now, published_at=now,
            status=EventStatus.PENDING, depth=0,
        )
    )  # fmt: skip
    await session.commit()


async def by_key(session: AsyncSession, team_id: str, key: str | None) -> Event | None:
    """The team's event with dedupe_key `key` (None without a key)."""
    if key is None:
        return None
    return await session.scalar(
        select(Event).where(Event.team_id == team_id, Event.dedupe_key == key)
    )


async def from_task(
    session: AsyncSession, task_id: str, type_: str, data: dict[str, Any], priority: str, key: str
) -> NewEvent:
    """The event task `task_id` publishes: its team and owner, caused by the task's event."""
    task = await session.get(Task, task_id)
    if task is None:
        raise LookupError(f"task {task_id} not found")
    depth = 1
    if task.event_id is not None:
        cause = await session.get(Event, task.event_id)
        depth = (cause.depth + 1) if cause is not None else 1
    return NewEvent(
        team_id=task.team_id, published_by=task.owner, type=type_, data=data, priority=priority,
        source=f"task:{task_id}", dedupe_key=key, causation_id=task.event_id,
        causation_task_id=task_id, depth=depth,
    )  # fmt: skip
