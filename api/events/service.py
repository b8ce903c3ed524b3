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
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError

from api.events.launch import start_routing
from api.events.schemas import EventPublish
from cape.auth import Principal
from cape.db.event_models import Event
from cape.db.models import utcnow
from cape.errors import PayloadTooLarge
from cape.events.ids import EventStatus, new_event_id
from cape.settings import Settings

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Published:
    """A stored event and whether this publish stored it (False: its dedupe_key's event)."""

    event: Event
    created: bool


@dataclass(frozen=True)
class Cause:
    """The event and task a new event comes from (a task's `publish_event`)."""

    event_id: str | None
    task_id: str | None
    depth: int


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
    cause: Cause | None = None,
) -> Published:
    """Store the event (or find its dedupe_key's) and start its routing."""
    check_size(body.data, settings)
    async with sessions() as session:
        found = await _by_key(session, principal.team_id, body.dedupe_key)
        if found is None:
            found = await _insert(session, principal, body, cause)
            created = found is not None
            if found is None:  # a concurrent publish with the same key won
                found = await _by_key(session, principal.team_id, body.dedupe_key)
                assert found is not None
        else:
            created = False
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
    before = utcnow() - timedelta(seconds=settings.reconcile_grace_seconds)
    async with sessions() as session:
        rows = await session.execute(
            select(Event.id, Event.priority)
            .where(Event.status == EventStatus.PENDING, Event.published_at < before)
            .order_by(Event.published_at)
            .limit(500)
        )
        pending = list(rows)
    for event_id, priority in pending:
        await start_routing(temporal, settings, event_id, priority)
    if pending:
        log.info("resumed routing of pending events", events=len(pending))
    return len(pending)


async def _insert(
    session: AsyncSession, principal: Principal, body: EventPublish, cause: Cause | None
) -> Event | None:
    event = Event(
        id=new_event_id(), team_id=principal.team_id, type=body.type, data=body.data,
        priority=body.priority, source=body.source, dedupe_key=body.dedupe_key,
        published_by=principal.owner, occurred_at=body.occurred_at or utcnow(),
        published_at=utcnow(), status=EventStatus.PENDING,
        causation_id=cause.event_id if cause else None,
        causation_task_id=cause.task_id if cause else None, depth=cause.depth if cause else 0,
    )  # fmt: skip
    session.add(event)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        return None
    return event


async def _by_key(session: AsyncSession, team_id: str, key: str | None) -> Event | None:
    if key is None:
        return None
    return await session.scalar(
        select(Event).where(Event.team_id == team_id, Event.dedupe_key == key)
    )


async def _try_start(temporal: Client, settings: Settings, event: Event) -> None:
    """Start the routing; on failure the event stays pending for `resume_pending`."""
    try:
        async with asyncio.timeout(settings.workflow_start_timeout_seconds):
            await start_routing(temporal, settings, event.id, event.priority)
    except (RPCError, RuntimeError, TimeoutError) as exc:
        log.warning("event routing not started yet; it will be", event_id=event.id, error=str(exc))
