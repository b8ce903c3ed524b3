"""Tailing a task's event log: LISTEN/NOTIFY on PostgreSQL, one shared poll on SQLite.

On SQLite no notification crosses from the worker's process, so one loop per API process
reads the followed tasks' `last_seq` counters together every `sse_poll_seconds` and wakes the
streams whose task has new events: an idle stream costs no query of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass

import psycopg
import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cape.db.events import NOTIFY_CHANNEL
from cape.db.models import Task, TaskEvent
from cape.db.tables import TASKS
from cape.domain import TaskStatus
from cape.settings import Settings

log = structlog.get_logger(__name__)
BATCH = 500


@dataclass
class Gap:
    """Events between `first` and `last` are no longer kept."""

    first: int
    last: int


@dataclass
class End:
    """The task is over and every event was delivered."""

    status: str
    last_seq: int


class Ping:
    """Nothing new for a keep-alive interval."""


FeedItem = TaskEvent | Gap | End | Ping


class EventFeed:
    """Follows tasks' events; one LISTEN connection per API process on PostgreSQL."""

    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.settings = settings
        self.sessions = sessions
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        # SQLite: each waiting stream's event and the last seq it has (see `_poll`).
        self._seen: dict[asyncio.Event, int] = {}
        # PostgreSQL: notifications received per followed task, so a stream notices one that
        # came between its read and its wait (it would otherwise sleep to its 1 s bound).
        self._following: dict[str, int] = defaultdict(int)
        self._noted: dict[str, int] = defaultdict(int)
        self._listener: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start listening for notifications (PostgreSQL), or the shared poll (SQLite)."""
        work = self._poll() if self.settings.is_sqlite else self._listen()
        self._listener = asyncio.create_task(work)

    async def stop(self) -> None:
        """Stop the listener."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener

    async def _listen(self) -> None:
        url = self.settings.async_database_url.replace("postgresql+psycopg://", "postgresql://")
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    async for note in conn.notifies():
                        if note.payload in self._following:
                            self._noted[note.payload] += 1
                        for waiter in self._waiters.get(note.payload, ()):
                            waiter.set()
            except (psycopg.Error, OSError) as exc:
                # Followers keep polling at a slower pace until the listener is back.
                log.warning("event listener lost its connection", error=str(exc))
                await asyncio.sleep(1.0)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sse_poll_seconds)
            if not self._waiters:
                continue
            try:
                await self._wake_changed()
            except Exception as exc:  # the streams fall back on their own bounded waits
                log.warning("event poll failed", error=str(exc))

    async def _wake_changed(self) -> None:
        ids = list(self._waiters)
        query = select(TASKS.c.id, TASKS.c.last_seq).where(TASKS.c.id.in_(ids))
        async with self.sessions() as session:
            counters = (await session.execute(query)).all()
        for task_id, last_seq in counters:
            for waiter in self._waiters.get(task_id, ()):
                if last_seq > self._seen.get(waiter, last_seq):
                    waiter.set()

    async def _wait(self, task_id: str, timeout: float, after: int, noted: int) -> None:
        if self._noted.get(task_id, 0) != noted:
            return  # notified since the stream's last read: read again at once
        if self._listener is None:  # not started (a feed made without its app's lifespan)
            await asyncio.sleep(min(timeout, self.settings.sse_poll_seconds))
            return
        event = asyncio.Event()
        self._waiters[task_id].add(event)
        self._seen[event] = after
        try:
            # Bounded: a notification lost to a reconnect, or a failed poll, costs at most 1 s.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(timeout, 1.0))
        finally:
            self._seen.pop(event, None)
            self._waiters[task_id].discard(event)
            if not self._waiters[task_id]:
                del self._waiters[task_id]

    async def follow(self, task_id: str, after: int) -> AsyncIterator[FeedItem]:
        """Yield the task's events after `after` in order, pings while idle, then End."""
        loop = asyncio.get_running_loop()
        ping_every = self.settings.sse_ping_seconds
        async with self.sessions() as session:
            first = await session.scalar(
                select(func.min(TaskEvent.seq)).where(TaskEvent.task_id == task_id)
            )
        if first is not None and after < first - 1:
            yield Gap(after + 1, first - 1)
            after = first - 1
        last_activity = loop.time()
        self._following[task_id] += 1
        try:
            while True:
                noted = self._noted.get(task_id, 0)  # before the read: see `_wait`
                async with self.sessions() as session:
                    rows = list(
                        await session.scalars(
                            select(TaskEvent)
                            .where(TaskEvent.task_id == task_id, TaskEvent.seq > after)
                            .order_by(TaskEvent.seq)
                            .limit(BATCH)
                        )
                    )
                    task = None if rows else await session.get(Task, task_id)
                for row in rows:
                    yield row
                    after = row.seq
                    last_activity = loop.time()
                if rows:
                    continue
                # The end is the task's state once every event is out, not the first terminal
                # event in the log: a retried task's log holds its old failure before its new run.
                if task is not None and TaskStatus(task.status).terminal and after >= task.last_seq:
                    yield End(task.status, task.last_seq)
                    return
                if loop.time() - last_activity >= ping_every:
                    yield Ping()
                    last_activity = loop.time()
                await self._wait(task_id, ping_every - (loop.time() - last_activity), after, noted)
        finally:
            self._following[task_id] -= 1
            if not self._following[task_id]:
                del self._following[task_id]
                self._noted.pop(task_id, None)
