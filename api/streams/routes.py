"""Progress streams: Server-Sent Events and WebSocket, both resumable."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from api.deps import FeedDep, ReadSessionsDep, StreamOwnedTaskDep, get_stream_principal
from api.streams.feed import End, FeedItem, Gap, Ping
from api.tasks.queries import load_owned_task
from cape.db.models import TaskEvent
from cape.errors import ClientError, InvalidInput

router = APIRouter(prefix="/tasks", tags=["events"])
Since = Annotated[int | None, Query(ge=0, description="Resume after this sequence number.")]
LastEventId = Annotated[str | None, Header(alias="Last-Event-ID")]
WS_POLICY_VIOLATION = 1008


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


def _control(item: Gap | End, task_id: str) -> dict[str, Any]:
    if isinstance(item, Gap):
        return {"type": "gap", "task_id": task_id, "data": {"first": item.first, "last": item.last}}
    return {
        "type": "end",
        "task_id": task_id,
        "data": {"status": item.status, "last_seq": item.last_seq},
    }


def _resume_point(last_event_id: str | None, since: int | None) -> int:
    if last_event_id is not None:
        if not last_event_id.strip().isdigit():
            raise InvalidInput(
                "Last-Event-ID must be an event sequence number",
                details=[{"field": "header.Last-Event-ID", "message": "not an integer"}],
            )
        return int(last_event_id)
    return since or 0


def _sse(item: FeedItem, task_id: str) -> str:
    if isinstance(item, Ping):
        return ": ping\n\n"
    if isinstance(item, Gap | End):
        control = _control(item, task_id)
        return f"event: {control['type']}\ndata: {json.dumps(control)}\n\n"
    data = json.dumps(envelope(item), separators=(",", ":"))
    return f"id: {item.seq}\nevent: {item.channel}\ndata: {data}\n\n"


@router.get("/{task_id}/events", response_class=StreamingResponse)
async def stream_events(
    task: StreamOwnedTaskDep,
    feed: FeedDep,
    since: Since = None,
    last_event_id: LastEventId = None,
) -> StreamingResponse:
    """Server-Sent Events of the task, from `Last-Event-ID` (or `?since=`) to a final `end`.

    Each event has `id: <seq>` and `event: <channel>`; `: ping` comments keep idle connections
    open; a resume point older than what is kept yields an explicit `gap` event.
    """
    after = _resume_point(last_event_id, since)

    async def body() -> AsyncIterator[str]:
        yield "retry: 1000\n\n"
        async for item in feed.follow(task.id, after):
            yield _sse(item, task.id)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(body(), media_type="text/event-stream", headers=headers)


@router.websocket("/{task_id}/ws")
async def websocket_events(
    websocket: WebSocket,
    task_id: str,
    reads: ReadSessionsDep,
    feed: FeedDep,
    since: Since = None,
) -> None:
    """The same events as JSON messages; `?since=` resumes; a final `end` message, then close.

    A missing or unknown key, or a task the caller cannot see, closes the socket with code
    1008 (policy violation) and the reason (browsers cannot read a refused handshake's status).
    """
    try:
        principal = await get_stream_principal(websocket)
        await load_owned_task(reads, principal, task_id)
    except ClientError as exc:
        await websocket.accept()
        await websocket.close(code=WS_POLICY_VIOLATION, reason=_close_reason(exc))
        return
    await websocket.accept()
    try:
        async for item in feed.follow(task_id, since or 0):
            if isinstance(item, Ping):
                await websocket.send_json({"type": "ping"})
            elif isinstance(item, Gap | End):
                await websocket.send_json(_control(item, task_id))
            else:
                await websocket.send_json(envelope(item))
        await websocket.close(code=1000)
    except WebSocketDisconnect:
        return


def _close_reason(error: ClientError) -> str:
    """`<code>: <message>` cut to the 123 bytes a close frame allows."""
    reason = f"{error.code.replace('_', ' ')}: {error.message}".encode()
    return reason[:123].decode(errors="ignore")
