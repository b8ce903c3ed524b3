"""The wire format of the streams: SSE frames, WebSocket messages, resume points, closes."""

from __future__ import annotations

import json
from typing import Any

from api.streams.feed import End, FeedItem, Gap, Ping
from cape.db.models import TaskEvent
from cape.errors import ClientError, InvalidInput


def envelope(event: TaskEvent) -> dict[str, Any]:
    """The event envelope (docs/api.md): what SSE `data:` and WebSocket messages carry."""
    return {
        "seq": event.seq,
        "task_id": event.task_id,
        "step_id": None if event.step_no is None else str(event.step_no),
        "ts": event.ts.isoformat().replace("+00:00", "Z"),
        "channel": event.channel,
        "type": event.type,
        "data": event.data,
    }


def control(item: Gap | End, task_id: str) -> dict[str, Any]:
    """The `gap` or `end` control message."""
    if isinstance(item, Gap):
        return {"type": "gap", "task_id": task_id, "data": {"first": item.first, "last": item.last}}
    return {
        "type": "end",
        "task_id": task_id,
        "data": {"status": item.status, "last_seq": item.last_seq},
    }


def resume_point(last_event_id: str | None, since: int | None) -> int:
    """Where a stream resumes: `Last-Event-ID` (a sequence number), else `?since=`, else 0."""
    if last_event_id is not None:
        if not last_event_id.strip().isdigit():
            raise InvalidInput(
                "Last-Event-ID must be an event sequence number",
                details=[{"field": "header.Last-Event-ID", "message": "not an integer"}],
            )
        return int(last_event_id)
    return since or 0


def sse(item: FeedItem, task_id: str) -> str:
    """The Server-Sent Events frame of a feed item."""
    if isinstance(item, Ping):
        return ": ping\n\n"
    if isinstance(item, Gap | End):
        frame = control(item, task_id)
        return f"event: {frame['type']}\ndata: {json.dumps(frame)}\n\n"
    data = json.dumps(envelope(item), separators=(",", ":"))
    return f"id: {item.seq}\nevent: {item.channel}\ndata: {data}\n\n"


def message(item: FeedItem, task_id: str) -> dict[str, Any]:
    """The WebSocket message of a feed item."""
    if isinstance(item, Ping):
        return {"type": "ping"}
    if isinstance(item, Gap | End):
        return control(item, task_id)
    return envelope(item)


def close_reason(error: ClientError) -> str:
    """`<code>: <message>` cut to the 123 bytes a close frame allows."""
    reason = f"{error.code.replace('_', ' ')}: {error.message}".encode()
    return reason[:123].decode(errors="ignore")
