"""The events pages' queries: the event log's page with task counts, one event with its chain.

Everything reads through `api/events/queries.py` (the JSON routes' own queries), scoped to the
caller's team; the extra reads here (task counts, the causation chain) filter by team too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import get_args
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.events.queries import EventFilters, event_page, event_routes, owned_event
from api.events.schemas import PriorityName, RouteOut, StatusName
from api.ui.task_list import WINDOWS
from cape.auth import Principal
from cape.db.event_models import Event, EventRoute
from cape.errors import InvalidInput, NotFound

PAGE_SIZE = 50
STATUSES: tuple[str, ...] = get_args(StatusName)
PRIORITIES: tuple[str, ...] = get_args(PriorityName)
CHAIN_MAX = 20  # causes shown above an event (the loop guard keeps real chains shorter)
CAUSED_MAX = 50  # events it caused, listed


@dataclass(frozen=True)
class EventQuery:
    """What the event log shows: filters as the form sent them (empty: any)."""

    type: str = ""
    status: str = ""
    priority: str = ""
    since: str = ""
    cursor: str = ""

    def params(self, **changes: str) -> str:
        """The query string of this listing with `changes` (empty values left out)."""
        values = {"type": self.type, "status": self.status, "priority": self.priority,
                  "since": self.since} | changes  # fmt: skip
        return urlencode({k: v for k, v in values.items() if v})

    def since_time(self) -> datetime | None:
        """The start of the time window, or None for any time (422 for an unknown window)."""
        if not self.since:
            return None
        if self.since not in WINDOWS:
            raise InvalidInput(
                f"unknown time window {self.since!r}",
                details=[{"field": "query.since", "message": f"one of {sorted(WINDOWS)}"}],
            )
        return datetime.now(UTC) - WINDOWS[self.since]

    def filters(self, team_id: str) -> EventFilters:
        """The JSON listing's filters for `team_id` (422 naming a field the form got wrong)."""
        return EventFilters(
            team_id, self.type or None, _choice("status", self.status, STATUSES),
            _choice("priority", self.priority, PRIORITIES), self.since_time(),
        )  # fmt: skip


def _choice(field: str, value: str, allowed: tuple[str, ...]) -> str | None:
    if not value:
        return None
    if value not in allowed:
        raise InvalidInput(
            f"unknown {field} {value!r}",
            details=[{"field": f"query.{field}", "message": f"one of {list(allowed)}"}],
        )
    return value


@dataclass(frozen=True)
class EventRow:
    """One line of the log: the event and how many tasks it started."""

    event: Event
    tasks: int


async def event_rows(
    session: AsyncSession, principal: Principal, query: EventQuery
) -> tuple[list[EventRow], str | None]:
    """A page of the team's events, newest first, and the cursor of the next page."""
    filters = query.filters(principal.team_id)
    events, next_cursor = await event_page(session, filters, PAGE_SIZE, query.cursor or None)
    counts = await _task_counts(session, principal.team_id, [e.id for e in events])
    return [EventRow(e, counts.get(e.id, 0)) for e in events], next_cursor


async def _task_counts(session: AsyncSession, team_id: str, ids: list[str]) -> dict[str, int]:
    if not ids:
        return {}
    rows = await session.execute(
        select(EventRoute.event_id, func.count(EventRoute.task_id))
        .where(EventRoute.team_id == team_id, EventRoute.event_id.in_(ids))
        .group_by(EventRoute.event_id)
    )
    return {event_id: int(count) for event_id, count in rows}


@dataclass(frozen=True)
class Link:
    """An event of the chain: its id and, while it is still in the log, the event."""

    id: str
    event: Event | None


@dataclass(frozen=True)
class EventDetail:
    """Everything the event page renders."""

    event: Event
    routes: list[RouteOut]
    causes: list[Link]  # the event's causes, the root first
    caused: list[Event]  # the events its tasks published

    @property
    def tasks(self) -> int:
        """How many tasks the event started."""
        return sum(1 for r in self.routes if r.task_id)


async def event_detail(session: AsyncSession, principal: Principal, event_id: str) -> EventDetail:
    """The team's event with its routes and causation chain (404 if not the team's)."""
    event = await owned_event(session, principal.team_id, event_id)
    caused = await session.scalars(
        select(Event)
        .where(Event.team_id == principal.team_id, Event.causation_id == event.id)
        .order_by(Event.published_at, Event.id)
        .limit(CAUSED_MAX)
    )
    return EventDetail(
        event=event,
        routes=await event_routes(session, event),
        causes=await _causes(session, principal.team_id, event),
        caused=list(caused),
    )


async def _causes(session: AsyncSession, team_id: str, event: Event) -> list[Link]:
    chain: list[Link] = []
    cause = event.causation_id
    while cause is not None and len(chain) < CHAIN_MAX:
        try:
            found: Event | None = await owned_event(session, team_id, cause)
        except NotFound:  # deleted by retention: the id is all that is left
            found = None
        chain.append(Link(cause, found))
        cause = found.causation_id if found is not None else None
    return chain[::-1]
