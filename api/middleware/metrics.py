"""HTTP metrics by route template, and the trace id on every traced response."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cape.telemetry.metrics import HTTP_LATENCY, HTTP_REQUESTS
from cape.telemetry.tracing import current_trace_id

UNMATCHED = "unmatched"  # a path no route matched: never the raw path (unbounded labels)


def route_template(scope: Scope, prefixes: frozenset[str]) -> str:
    """The full template of the route that answered (`/v1/tasks/{task_id}`), or `unmatched`.

    FastAPI keeps included routers nested: the route knows its path below the prefix it was
    included with. That prefix is what the request path has before the route's segments; only
    the app's known prefixes are accepted, so a decoded `%2F` in an id cannot make a label.
    """
    route = scope.get("route")
    below = getattr(route, "path", None)
    if not below:
        return UNMATCHED
    # Older FastAPI flattens included routers: then the prefix found here is "".
    segments = scope["path"].rstrip("/").split("/")
    depth = below.rstrip("/").count("/")
    prefix = "/".join(segments[: len(segments) - depth])
    return f"{prefix}{below}" if prefix in prefixes else UNMATCHED


class MetricsMiddleware:
    """Counts requests by method, route template and status, and times them."""

    def __init__(self, app: ASGIApp, prefixes: frozenset[str] = frozenset({""})) -> None:
        self.app = app
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Measure one HTTP request; WebSockets and lifespan pass through."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception before any response is answered with 500 outside

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                trace_id = current_trace_id()
                if trace_id is not None:  # from a response to its trace in Jaeger or Tempo
                    message.setdefault("headers", [])
                    message["headers"] = [*message["headers"], (b"x-trace-id", trace_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            template = route_template(scope, self.prefixes)
            method = scope["method"]
            HTTP_REQUESTS.labels(method, template, str(status)).inc()
            HTTP_LATENCY.labels(method, template).observe(time.perf_counter() - started)
