"""The live event log of a team as Server-Sent Events (`GET /v1/events/stream`).

The events table is polled every `CAPE_SSE_POLL_SECONDS` with a short look-back, so an event
committed a moment after a later-stamped one is still sent; ids already sent are skipped. Each
frame's `id:` is a cursor a client resumes from with `Last-Event-ID`.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.events.queries import event_out
from api.pagination import decode_cursor, encode_cursor
from cape.db.event_models import Event
from cape.db.models import utcnow
from cape.settings import Settings

LOOK_BACK = timedelta(seconds=5)  # commits may land out of stamp order by this much
SEEN = 10_000  # ids remembered to skip within the look-back


def start_point(last_event_id: str | None) -> tuple[datetime, str]:
    """Where the stream starts: after `Last-Event-ID` (a cursor), else now."""
    if last_event_id:
        stamp, event_id = decode_cursor(last_event_id)
        return _aware(stamp), event_id
    return utcnow(), ""


def _aware(stamp: datetime) -> datetime:
    # SQLite gives naive datetimes back; every stamp the app writes is UTC.
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


async def follow(
    reads: async_sessionmaker[AsyncSession],
    settings: Settings,
    team_id: str,
    start: tuple[datetime, str],
    timeout: float,
) -> AsyncIterator[str]:
    """SSE frames of the team's events after `start` until `timeout` s, then an `end` frame."""
    after, floor = start[0], start
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    next_ping = loop.time() + settings.sse_ping_seconds
    seen: OrderedDict[str, None] = OrderedDict()
    yield "retry: 1000\n\n"
    while loop.time() < deadline:
        async with reads() as session:
            rows = await session.scalars(
                select(Event)
                .where(Event.team_id == team_id, Event.published_at > after - LOOK_BACK)
                .order_by(Event.published_at, Event.id)
                .limit(500)
            )
            fresh = [e for e in rows if e.id not in seen and (_aware(e.published_at), e.id) > floor]
        for event in fresh:
            seen[event.id] = None
            if len(seen) > SEEN:
                seen.popitem(last=False)
            after = max(after, _aware(event.published_at))
            data = event_out(event).model_dump_json()
            cursor = encode_cursor(event.published_at, event.id)
            yield f"id: {cursor}\nevent: event\ndata: {data}\n\n"
        if loop.time() >= next_ping:
            next_ping = loop.time() + settings.sse_ping_seconds
            yield ": ping\n\n"
        await asyncio.sleep(settings.sse_poll_seconds)
    yield f"event: end\ndata: {json.dumps({'type': 'end', 'reason': 'timeout'})}\n\n"
