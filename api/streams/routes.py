"""Progress streams: Server-Sent Events and WebSocket, both resumable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from api.deps import FeedDep, StreamOwnedTaskDep, stream_refusal
from api.streams.clients import counted
from api.streams.frames import close_reason, message, resume_point, sse

router = APIRouter(prefix="/tasks", tags=["events"])
Since = Annotated[int | None, Query(ge=0, description="Resume after this sequence number.")]
LastEventId = Annotated[str | None, Header(alias="Last-Event-ID")]
WS_POLICY_VIOLATION = 1008


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
    after = resume_point(last_event_id, since)

    async def body() -> AsyncIterator[str]:
        yield "retry: 1000\n\n"
        async for item in counted("sse", feed.follow(task.id, after)):
            yield sse(item, task.id)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(body(), media_type="text/event-stream", headers=headers)


@router.websocket("/{task_id}/ws")
async def websocket_events(
    websocket: WebSocket,
    task_id: str,
    feed: FeedDep,
    since: Since = None,
) -> None:
    """The same events as JSON messages; `?since=` resumes; a final `end` message, then close.

    A missing or unknown key, or a task the caller cannot see, closes the socket with code
    1008 (policy violation) and the reason (browsers cannot read a refused handshake's status).
    """
    refusal = await stream_refusal(websocket, task_id)
    if refusal is not None:
        await websocket.accept()
        await websocket.close(code=WS_POLICY_VIOLATION, reason=close_reason(refusal))
        return
    await websocket.accept()
    try:
        async for item in counted("websocket", feed.follow(task_id, since or 0)):
            await websocket.send_json(message(item, task_id))
        await websocket.close(code=1000)
    except WebSocketDisconnect:
        return
