"""Per-process rate limiter and result cache of web_search, with injectable clocks for tests."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from activities.tools.base import ToolError

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
V = TypeVar("V")


class RateLimiter:
    """Sliding window: at most `limit` calls in any `window` seconds.

    A call over the limit waits for the next free slot when that is at most `max_wait` seconds
    away, and is refused with a ToolError otherwise. Slots are reserved before sleeping, so
    concurrent callers on one event loop never overshoot the limit.
    """

    def __init__(
        self,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        window: float = 60.0,
        max_wait: float = 5.0,
    ) -> None:
        self.clock = clock
        self.sleep = sleep
        self.window = window
        self.max_wait = max_wait
        self._stamps: deque[float] = deque()

    async def acquire(self, limit: int, what: str = "call") -> float:
        """Take a slot, waiting briefly if needed.

        Args:
            limit: Calls allowed per window (read from settings on each call).
            what: What is limited, for the error message.

        Returns:
            The seconds waited (0.0 when a slot was free).

        Raises:
            ToolError: The next slot is more than `max_wait` seconds away.
        """
        now = self.clock()
        while self._stamps and self._stamps[0] <= now - self.window:
            self._stamps.popleft()
        if len(self._stamps) < limit:
            self._stamps.append(now)
            return 0.0
        # Stamps are ascending, so the limit-th newest one is the next to leave the window.
        wait = self._stamps[-limit] + self.window - now
        if wait > self.max_wait:
            raise ToolError(
                f"{what} rate limit reached ({limit} per {self.window:g} s on this worker); "
                f"retry in about {wait:.0f} s"
            )
        self._stamps.append(now + wait)
        await self.sleep(wait)
        return wait


class TTLCache(Generic[V]):
    """A bounded least-recently-used cache whose entries expire after a per-lookup TTL."""

    def __init__(self, max_entries: int = 512, *, clock: Clock = time.monotonic) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()

    def get(self, key: Hashable, ttl: float) -> V | None:
        """The value stored under `key` less than `ttl` seconds ago, else None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        stored_at, value = entry
        if self.clock() - stored_at >= ttl:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: Hashable, value: V) -> None:
        """Store `value`, evicting the least recently used entry when full."""
        self._entries[key] = (self.clock(), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


@dataclass
class SearchState:
    """One worker process's search limiter and cache."""

    limiter: RateLimiter = field(default_factory=RateLimiter)
    cache: TTLCache[Any] = field(default_factory=TTLCache)

    @classmethod
    def create(
        cls, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep, max_entries: int = 512
    ) -> SearchState:
        """A fresh state sharing one clock between limiter and cache."""
        return cls(RateLimiter(clock=clock, sleep=sleep), TTLCache(max_entries, clock=clock))
