"""Reading the event log: pages, one event with its routes and tasks, per-type stats."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.events.schemas import EventOut, EventStats, RouteOut, TypeStats
from api.pagination import decode_cursor, encode_cursor
from cape.db.event_models import Event, EventRoute
from cape.db.models import Task
from cape.errors import NotFound
from cape.events.ids import EventStatus

STATS_ROWS = 50_000  # events an unbounded stats window reads at most (newest first)


def event_out(
    event: Event, routes: list[RouteOut] | None = None, duplicate: bool = False
) -> EventOut:
    """The API view of an event."""
    return EventOut(
        id=event.id, type=event.type, data=event.data, priority=event.priority,
        source=event.source, dedupe_key=event.dedupe_key, status=event.status,
        reason=event.reason, published_by=event.published_by, occurred_at=event.occurred_at,
        published_at=event.published_at, routed_at=event.routed_at,
        causation_id=event.causation_id, depth=event.depth, duplicate=duplicate, routes=routes,
    )  # fmt: skip


@dataclass(frozen=True)
class EventFilters:
    """The listing's filters (every one optional but the team)."""

    team_id: str
    type: str | None = None
    status: str | None = None
    priority: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _conditions(f: EventFilters) -> list[ColumnElement[bool]]:
    found = [Event.team_id == f.team_id]
    for column, value in ((Event.type, f.type), (Event.status, f.status),
                          (Event.priority, f.priority)):  # fmt: skip
        if value is not None:
            found.append(column == value)
    if f.since is not None:
        found.append(Event.published_at >= f.since)
    if f.until is not None:
        found.append(Event.published_at < f.until)
    return found


async def event_page(
    session: AsyncSession, filters: EventFilters, limit: int, cursor: str | None
) -> tuple[list[Event], str | None]:
    """A page of events, newest first, after `cursor`."""
    query = select(Event).where(*_conditions(filters))
    if cursor is not None:
        stamp, last = decode_cursor(cursor)
        query = query.where(
            or_(Event.published_at < stamp, and_(Event.published_at == stamp, Event.id < last))
        )
    query = query.order_by(Event.published_at.desc(), Event.id.desc()).limit(limit + 1)
    rows = list(await session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].published_at, rows[-1].id) if more and rows else None
    return rows, next_cursor


async def owned_event(session: AsyncSession, team_id: str, event_id: str) -> Event:
    """The team's event, else 404 (another team's event is not revealed)."""
    event = await session.get(Event, event_id)
    if event is None or event.team_id != team_id:
        raise NotFound(f"event {event_id!r} not found", details={"event_id": event_id})
    return event


async def event_routes(session: AsyncSession, event: Event) -> list[RouteOut]:
    """The event's routes, each with its task's current status."""
    rows = await session.execute(
        select(EventRoute, Task.status)
        .outerjoin(Task, Task.id == EventRoute.task_id)
        .where(EventRoute.event_id == event.id)
        .order_by(EventRoute.agent)
    )
    return [
        RouteOut(
            agent=r.agent,
            agent_version=r.agent_version,
            trigger=r.trigger,
            status=r.status,
            reason=r.reason,
            priority=r.priority,
            input=r.input,
            task_id=r.task_id,
            task_status=task_status,
        )
        for r, task_status in rows
    ]


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


async def event_stats(session: AsyncSession, team_id: str, since: datetime | None) -> EventStats:
    """Per type: counts by outcome, tasks started and publish-to-task-start latency."""
    window = _conditions(EventFilters(team_id, since=since))
    query = select(Event.id, Event.type, Event.status).where(*window)
    counts: dict[str, dict[str, int]] = {}
    for _id, kind, status in await session.execute(query.limit(STATS_ROWS)):
        row = counts.setdefault(kind, {})
        row[status] = row.get(status, 0) + 1
        row["published"] = row.get("published", 0) + 1
    started = select(Event.type, Event.published_at, Task.started_at).join(
        Task, Task.event_id == Event.id
    )
    started = started.where(*window).limit(STATS_ROWS)
    latency: dict[str, list[float]] = {}
    tasks: dict[str, int] = {}
    result = await session.execute(started)
    for kind, published, began in result:
        tasks[kind] = tasks.get(kind, 0) + 1
        if began is not None:
            delta = (_aware(began) - _aware(published)).total_seconds() * 1000
            latency.setdefault(kind, []).append(delta)
    types = [
        TypeStats(
            type=kind,
            published=c["published"],
            routed=c.get(EventStatus.ROUTED, 0),
            unhandled=c.get(EventStatus.UNHANDLED, 0),
            filtered=c.get(EventStatus.FILTERED, 0),
            failed=c.get(EventStatus.FAILED, 0),
            pending=c.get(EventStatus.PENDING, 0),
            tasks=tasks.get(kind, 0),
            start_latency_p50_ms=_percentile(latency.get(kind, []), 0.5),
            start_latency_p95_ms=_percentile(latency.get(kind, []), 0.95),
        )
        for kind, c in sorted(counts.items())
    ]
    return EventStats(since=since, types=types)


def _aware(stamp: datetime) -> datetime:
    # SQLite gives naive datetimes back; every stamp the app writes is UTC.
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)
