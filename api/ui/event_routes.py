"""Dashboard routes of the event log (HTML, not in the OpenAPI)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from api.deps import SessionDep
from api.ui.auth import PageUserDep
from api.ui.event_pages import event_page, event_rows_fragment, events_page
from api.ui.event_view import EventQuery

router = APIRouter(prefix="/ui", include_in_schema=False)
TypeFilter = Annotated[str, Query(alias="type", max_length=128)]
Choice = Annotated[str, Query(max_length=16)]
Cursor = Annotated[str, Query(max_length=512)]


def event_query(
    type_filter: TypeFilter = "",
    status: Choice = "",
    priority: Choice = "",
    since: Choice = "",
    cursor: Cursor = "",
) -> EventQuery:
    """The log's filters from the query string; the page and its live rows read the same."""
    return EventQuery(type_filter, status, priority, since, cursor)


EventQueryDep = Annotated[EventQuery, Depends(event_query)]


@router.get("/events", response_class=HTMLResponse)
async def events(
    request: Request,
    session: SessionDep,
    principal: PageUserDep,
    query: EventQueryDep,
) -> HTMLResponse:
    """The team's events, newest first, filtered by type, status, priority and time window."""
    return await events_page(request, session, principal, query)


@router.get("/events/rows", response_class=HTMLResponse)
async def rows(
    request: Request,
    session: SessionDep,
    principal: PageUserDep,
    query: EventQueryDep,
) -> HTMLResponse:
    """The rows of the log alone: the page polls them to stay live."""
    return await event_rows_fragment(request, session, principal, query)


@router.get("/events/{event_id}", response_class=HTMLResponse)
async def event(
    event_id: str, request: Request, session: SessionDep, principal: PageUserDep
) -> HTMLResponse:
    """One event of the team: its data, routes, the tasks it started and its causation chain."""
    return await event_page(request, session, principal, event_id)
