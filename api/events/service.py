"""Publishing events: the stored row first, then its routing workflow (docs/events.md).

The committed row is the outbox of the routing: once the publish answers 202 the event is
stored, and if the start of its routing workflow fails or hangs, `resume_pending` (run by the
reconciler's passes, and by a repeated publish with the same dedupe_key) starts it later.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import defer
from temporalio.client import Client
from temporalio.service import RPCError

from api.events.launch import start_routing
from api.events.schemas import EventPublish
from cape.auth import Principal
from cape.db.event_models import Event
from cape.db.models import utcnow
from cape.errors import PayloadTooLarge
from cape.events.ids import EventStatus
from cape.events.publishing import NewEvent, store_event
from cape.settings import Settings

log = structlog.get_logger(__name__)
PENDING_BATCH = 500  # per pass: a backlog is worked off over several passes


@dataclass(frozen=True)
class Published:
    """A stored event and whether this publish stored it (False: its dedupe_key's event)."""

    event: Event
    created: bool


def check_size(data: object, settings: Settings) -> None:
    """413 when the encoded `data` is above `CAPE_EVENT_MAX_DATA_BYTES`."""
    size = len(json.dumps(data, separators=(",", ":"), default=str).encode())
    if size > settings.event_max_data_bytes:
        raise PayloadTooLarge(
            f"event data is {size} bytes, above the limit of {settings.event_max_data_bytes}",
            details={"field": "body.data", "limit_bytes": settings.event_max_data_bytes},
        )


async def publish(
    sessions: async_sessionmaker[AsyncSession],
    temporal: Client,
    settings: Settings,
    principal: Principal,
    body: EventPublish,
) -> Published:
    """Store the event (or find its dedupe_key's) and start its routing."""
    check_size(body.data, settings)
    new = NewEvent(
        team_id=principal.team_id, published_by=principal.owner, type=body.type,
        data=body.data, priority=body.priority, source=body.source,
        dedupe_key=body.dedupe_key, occurred_at=body.occurred_at,
    )  # fmt: skip
    async with sessions() as session:
        found, created = await store_event(session, new)
    if found.status == EventStatus.PENDING:
        await _try_start(temporal, settings, found)
    return Published(found, created)


async def resume_pending(
    sessions: async_sessionmaker[AsyncSession], temporal: Client, settings: Settings
) -> int:
    """Start the routing of events stored but not routed after the grace period.

    Each start finds a running routing workflow, or refuses one that already ran: an event is
    never routed twice. Returns how many were asked for.
    """
    pending = await pending_events(sessions, settings)
    for event in pending:
        await start_routing(temporal, settings, event.id, event.priority)
    if pending:
        log.info("resumed routing of pending events", events=len(pending))
    return len(pending)


async def pending_events(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    team: str | None = None,
    published_by: str | None = None,
) -> list[Event]:
    """Events still `pending` after the grace period, oldest first (at most `PENDING_BATCH`).

    The ones whose routing start may have been cut off: one team's or publisher's, or all.
    """
    before = utcnow() - timedelta(seconds=settings.reconcile_grace_seconds)
    query = (
        select(Event)
        .options(defer(Event.data))  # up to CAPE_EVENT_MAX_DATA_BYTES each: not needed here
        .where(Event.status == EventStatus.PENDING, Event.published_at < before)
    )
    if team is not None:
        query = query.where(Event.team_id == team)
    if published_by is not None:
        query = query.where(Event.published_by == published_by)
    async with sessions() as session:
        rows = await session.scalars(query.order_by(Event.published_at).limit(PENDING_BATCH))
        return list(rows)


async def _try_start(temporal: Client, settings: Settings, event: Event) -> None:
    """Start the routing; on failure the event stays pending for `resume_pending`."""
    try:
        async with asyncio.timeout(settings.workflow_start_timeout_seconds):
            await start_routing(temporal, settings, event.id, event.priority)
    except (RPCError, RuntimeError, TimeoutError) as exc:
        log.warning("event routing not started yet; it will be", event_id=event.id, error=str(exc))
