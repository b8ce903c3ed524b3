"""Event routes: publish, list, stats and one event with its routes and tasks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status
from fastapi.responses import StreamingResponse

from api.deps import (
    ReaderDep,
    ReadSessionsDep,
    SessionDep,
    SettingsDep,
    TemporalDep,
    WriterDep,
    WriteSessionsDep,
)
from api.events.queries import (
    EventFilters,
    event_out,
    event_page,
    event_routes,
    event_stats,
    owned_event,
)
from api.events.schemas import (
    EventOut,
    EventPage,
    EventPublish,
    EventStats,
    PriorityName,
    StatusName,
)
from api.events.service import publish
from api.events.stream import follow, start_point

router = APIRouter(prefix="/events", tags=["events"])


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=EventOut)
async def publish_event(
    body: EventPublish,
    response: Response,
    sessions: WriteSessionsDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: WriterDep,
) -> EventOut:
    """Publish an event; the agents whose triggers match it start tasks.

    202: the event is stored and will be routed (its `status` becomes `routed`, `unhandled`,
    `filtered` or `failed`). A `dedupe_key` already used in the team returns that event with
    200 and `duplicate: true`, never a second event. Data above `CAPE_EVENT_MAX_DATA_BYTES`
    is a 413.
    """
    published = await publish(sessions, temporal, settings, principal, body)
    response.headers["Location"] = f"/v1/events/{published.event.id}"
    if not published.created:
        response.status_code = status.HTTP_200_OK
    return event_out(published.event, duplicate=not published.created)


@router.get("", response_model=EventPage)
async def list_events(
    session: SessionDep,
    principal: ReaderDep,
    type_filter: Annotated[str | None, Query(alias="type", max_length=128)] = None,
    status_filter: Annotated[StatusName | None, Query(alias="status")] = None,
    priority: PriorityName | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> EventPage:
    """The team's events, newest first, filtered by type, status, priority and time."""
    filters = EventFilters(principal.team_id, type_filter, status_filter, priority, since, until)
    rows, next_cursor = await event_page(session, filters, limit, cursor)
    return EventPage(items=[event_out(e) for e in rows], next_cursor=next_cursor)


@router.get("/stats", response_model=EventStats)
async def stats(
    session: SessionDep, principal: ReaderDep, since: datetime | None = None
) -> EventStats:
    """Per event type: counts by outcome and publish-to-task-start latency.

    Published, routed, unhandled, filtered and failed events, the tasks they started and the
    p50/p95 time from publish to the start of those tasks (milliseconds).
    """
    return await event_stats(session, principal.team_id, since)


@router.get("/stream", response_class=StreamingResponse)
async def stream(
    reads: ReadSessionsDep,
    settings: SettingsDep,
    principal: ReaderDep,
    timeout: Annotated[float, Query(gt=0, le=3600)] = 300,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=512)] = None,
) -> StreamingResponse:
    """The team's new events as Server-Sent Events (`event: event`, the event's JSON).

    From now, or after `Last-Event-ID` (each frame's `id:`); `: ping` comments keep the
    connection open; after `timeout` seconds an `end` event closes it (reconnect to go on).
    """
    after = start_point(last_event_id)
    body = follow(reads, settings, principal.team_id, after, timeout)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)


@router.get("/{event_id}", response_model=EventOut)
async def get_event(event_id: str, session: SessionDep, principal: ReaderDep) -> EventOut:
    """One event, with its routes: each agent it reached, the reason, the input and the task."""
    event = await owned_event(session, principal.team_id, event_id)
    return event_out(event, await event_routes(session, event))
