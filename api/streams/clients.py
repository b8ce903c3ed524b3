"""The connected-clients gauge of the event streams."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypeVar

from cape.telemetry.metrics import STREAM_CLIENTS

T = TypeVar("T")


async def counted(transport: str, items: AsyncIterator[T]) -> AsyncIterator[T]:
    """`items`, counting one `transport` ("sse", "websocket") client while they are read."""
    gauge = STREAM_CLIENTS.labels(transport)
    gauge.inc()
    try:
        async for item in items:
            yield item
    finally:
        gauge.dec()
