"""Request body limit as pure ASGI middleware (no buffering of a body that is too large)."""

from __future__ import annotations

import json
import re

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cape.errors import PayloadTooLarge

# Routes that read their body themselves under their own, larger limit (artifact uploads).
OWN_LIMIT_ROUTES = (
    ("POST", re.compile(r"/v1/tasks/[^/]+/artifacts")),
    ("POST", re.compile(r"/v1/marketplace/packages")),  # marketplace_max_upload_bytes
)
# Routes that do so for multipart bodies only (a task created with files; JSON stays bounded).
OWN_MULTIPART_ROUTES = (("POST", re.compile(r"/v1/tasks")),)


def has_own_limit(scope: Scope) -> bool:
    """Whether the request goes to a route that enforces its own body limit."""
    path, method = scope["path"], scope["method"]
    if any(method == m and pattern.fullmatch(path) for m, pattern in OWN_LIMIT_ROUTES):
        return True
    content_type = dict(scope.get("headers") or []).get(b"content-type", b"")
    return content_type.lower().startswith(b"multipart/form-data") and any(
        method == m and pattern.fullmatch(path) for m, pattern in OWN_MULTIPART_ROUTES
    )


class BodyTooLarge(HTTPException):
    """A body that grew over the limit while streaming in (no Content-Length to check first).

    An HTTPException passes FastAPI's body parsing unchanged (anything else becomes a 400);
    the app's handler renders it as the same 413 body as a rejected Content-Length.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body exceeds the limit of {limit} bytes")
        self.limit = limit

    def to_error(self) -> PayloadTooLarge:
        """The CapeError this stands for."""
        return PayloadTooLarge(str(self.detail), details={"limit_bytes": self.limit})


class BodyLimitMiddleware:
    """Answer 413 when a body exceeds `limit` bytes, by header or while it streams in."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on with a counting `receive`."""
        if scope["type"] != "http" or has_own_limit(scope):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._reject(send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._reject(send)

    async def _reject(self, send: Send) -> None:
        body = json.dumps(BodyTooLarge(self.limit).to_error().to_body()).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
