"""The event log's retention: routed events older than `CAPE_EVENT_RETENTION_DAYS` go.

Pending events are never deleted (their routing has not run). Their routes go with them; the
tasks they started stay (a task keeps its `event_id`, which then names a deleted event).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cape.db.event_models import Event, EventRoute
from cape.events.ids import EventStatus
from cape.settings import Settings

BATCH = 1000  # events deleted per transaction, so a long backlog never holds the lock long


async def sweep_events(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], now: datetime | None = None
) -> int:
    """Delete the events past retention (none when it is 0); returns how many."""
    if settings.event_retention_days <= 0:
        return 0
    cutoff = (now or datetime.now(UTC)) - timedelta(days=settings.event_retention_days)
    deleted = 0
    while True:
        async with sessions.begin() as session:
            ids = list(
                await session.scalars(
                    select(Event.id)
                    .where(Event.published_at < cutoff, Event.status != EventStatus.PENDING)
                    .limit(BATCH)
                )
            )
            if not ids:
                return deleted
            await session.execute(delete(EventRoute).where(EventRoute.event_id.in_(ids)))
            await session.execute(delete(Event).where(Event.id.in_(ids)))
        deleted += len(ids)
