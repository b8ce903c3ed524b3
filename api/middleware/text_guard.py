"""Refuse JSON bodies with text no database can store (NUL, lone surrogates) as a 422.

Every stored body (tasks, schedules, agent specs, answers) passes here, so no route has to
remember it: the body is read whole (the body limit, outside, bounds it), checked, and replayed
to the app unchanged. Bodies that are not JSON, or not valid JSON, go on untouched: their own
route or FastAPI answers for them.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.middleware.body_limit import has_own_limit
from cape.errors import InvalidInput
from cape.safe_text import check_text

CHECKED_METHODS = {"POST", "PUT", "PATCH"}


def _is_json(scope: Scope) -> bool:
    content_type = dict(scope["headers"]).get(b"content-type", b"").decode("latin-1").lower()
    # FastAPI parses a body without a Content-Type as JSON too.
    return not content_type or "json" in content_type.split(";")[0]


def refusal(body: bytes) -> InvalidInput | None:
    """The 422 for a JSON `body` holding unstorable text, or None (also for non-JSON)."""
    try:
        data = json.loads(body)
    except ValueError:  # not JSON (or not UTF-8): the route's own parsing reports it
        return None
    try:
        check_text(data, "body")
    except InvalidInput as error:
        return error
    return None


class TextGuardMiddleware:
    """Answer 422 naming the field when a JSON body holds a NUL or a lone surrogate."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check a JSON body, then pass the request on with the body replayed."""
        if (
            scope["type"] != "http"
            or scope["method"] not in CHECKED_METHODS
            or has_own_limit(scope)  # uploads: not JSON, and not bounded by the body limit
            or not _is_json(scope)
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([message], receive), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        error = refusal(body) if body else None
        if error is not None:
            await _answer(send, error)
            return
        whole: Message = {"type": "http.request", "body": body, "more_body": False}
        await self.app(scope, _replay([whole], receive), send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()  # e.g. http.disconnect, which streaming routes wait for

    return replay


async def _answer(send: Send, error: InvalidInput) -> None:
    body = json.dumps(error.to_body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
