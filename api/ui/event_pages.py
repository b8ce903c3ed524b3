"""The events pages: the log (with per-type stats and the publish form), its rows, one event."""

from __future__ import annotations

from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from api.events.queries import event_stats
from api.ui.event_view import PRIORITIES, STATUSES, EventQuery, event_detail, event_rows
from api.ui.render import fragment, page
from api.ui.task_list import WINDOWS
from cape.auth import Principal


async def events_page(
    request: Request, session: AsyncSession, principal: Principal, query: EventQuery
) -> HTMLResponse:
    """The team's event log with its filters; per-type stats of the window above it."""
    rows, next_cursor = await event_rows(session, principal, query)
    stats = await event_stats(session, principal.team_id, query.since_time())
    return await page(
        request, session, principal, "events.html", "events",
        rows=rows, next_cursor=next_cursor, query=query, stats=stats.types,
        windows=list(WINDOWS), event_statuses=STATUSES, priorities=PRIORITIES,
    )  # fmt: skip


async def event_rows_fragment(
    request: Request, session: AsyncSession, principal: Principal, query: EventQuery
) -> HTMLResponse:
    """The log's rows alone (htmx polls them)."""
    rows, next_cursor = await event_rows(session, principal, query)
    return fragment(request, "event_rows.html", rows=rows, next_cursor=next_cursor, query=query)


async def event_page(
    request: Request, session: AsyncSession, principal: Principal, event_id: str
) -> HTMLResponse:
    """One event: data, routes with their tasks, causation chain (404 if not the team's)."""
    detail = await event_detail(session, principal, event_id)
    return await page(request, session, principal, "event.html", "events", detail=detail)
