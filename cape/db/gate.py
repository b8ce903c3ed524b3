"""SQLite writers take turns: in order within a process, woken at release across processes.

SQLite has one write lock per database file. A writer that finds it taken waits in SQLite's
busy handler, which sleeps (1, 2, 5 ... then 100 ms at a time) and retries, instead of being
woken when the lock is free: with a busy worker, a writer can sleep through many transactions
of others (the API's `POST /v1/tasks` waited seconds). So before `BEGIN IMMEDIATE` a writer
queues on an asyncio lock of its process (first come, first served, woken at once) and then on
an advisory lock file beside the database (`flock`, whose waiters the kernel wakes at every
release), and it lets both go when its connection returns to the pool. `BEGIN IMMEDIATE` and
`busy_timeout` stay: they guard against writers that do not take part (the `sqlite3` shell).

A gate is entered from SQLAlchemy's synchronous `begin` event; `await_only` suspends the
calling greenlet, which is how the async engine runs its synchronous parts.

`begin_promptly` is the other answer, for a process whose writes a person waits for (the API)
while the gate is off: it retries `BEGIN IMMEDIATE` itself every 2 ms at most instead of
sleeping in SQLite's busy handler, so it takes the lock in the first gap between the worker's
transactions.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import time
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.util import await_only

HELD = "cape_write_gate"  # key in the pooled connection's info while it holds the gate
POLL_FIRST_SECONDS = 0.0005  # `begin_promptly`: the first wait between attempts, doubling
POLL_MAX_SECONDS = 0.002  # ... up to this


class WriteGate:
    """The turn of one SQLite database's writers, for this process."""

    def __init__(self, database: Path | None, timeout: float) -> None:
        """A gate for `database` (None: an in-memory database, this process only)."""
        self.lock_file = None if database is None else database.with_name(database.name + ".gate")
        self.timeout = timeout
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._fd: int | None = None
        self._waiter: ThreadPoolExecutor | None = None  # blocks in flock, off the event loop

    def enter(self, info: dict[str, Any]) -> None:
        """Wait for this writer's turn (from a greenlet of the async engine)."""
        if HELD in info:
            return  # the connection's earlier transaction still holds it
        info[HELD] = await_only(self._acquire())

    def leave(self, info: dict[str, Any]) -> None:
        """Hand the turn on (the connection returned to the pool)."""
        lock: asyncio.Lock | None = info.pop(HELD, None)
        if lock is None:
            return
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        lock.release()

    async def _acquire(self) -> asyncio.Lock:
        lock = self._locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can time out with the lock taken.
            async with asyncio.timeout(self.timeout):
                await lock.acquire()
                try:
                    await self._lock_file()
                except BaseException:
                    lock.release()
                    raise
        except TimeoutError:
            locked = sqlite3.OperationalError("database is locked (waited for other writers)")
            raise OperationalError("BEGIN IMMEDIATE", None, locked) from None
        return lock

    async def _lock_file(self) -> None:
        if self.lock_file is None:
            return
        if self._fd is None:
            self._fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fd = self._fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        if self._waiter is None:
            self._waiter = ThreadPoolExecutor(1, thread_name_prefix="cape-write-gate")
        done = self._waiter.submit(fcntl.flock, fd, fcntl.LOCK_EX)
        try:
            await asyncio.wrap_future(done)
        except BaseException:
            # Given up (timed out, cancelled), but the thread's flock cannot be interrupted:
            # the lock it still gets is let go at once.
            done.add_done_callback(_unlock_when_taken(fd))
            raise


def _unlock_when_taken(fd: int) -> Any:
    def unlock(done: Future[None]) -> None:
        if not done.cancelled() and done.exception() is None:
            fcntl.flock(fd, fcntl.LOCK_UN)

    return unlock


def begin_promptly(connection: Any, timeout: float) -> None:
    """`BEGIN IMMEDIATE` as soon as the write lock is free, retried every 2 ms at most.

    SQLite's busy handler sleeps 1, 2, 5 ... then 100 ms between attempts and is not woken
    when the lock is released, so a writer of a process that writes rarely (the API) sleeps
    through the short gaps between a busy worker's transactions and waits seconds. Here the
    attempts run with `busy_timeout` 0 and this loop waits between them instead; the
    connection's `busy_timeout` is back to `timeout` for the statements of the transaction
    and for later users of the pooled connection, in one script with the `BEGIN`.
    """
    driver = connection.connection.driver_connection  # the aiosqlite connection
    busy_ms = int(timeout * 1000)
    script = f"PRAGMA busy_timeout=0; BEGIN IMMEDIATE; PRAGMA busy_timeout={busy_ms}"
    give_up = time.monotonic() + timeout
    delay = POLL_FIRST_SECONDS
    done = False
    try:
        while True:
            try:
                await_only(driver.executescript(script))
                done = True
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() >= give_up:
                    raise OperationalError("BEGIN IMMEDIATE", None, exc) from None
            await_only(asyncio.sleep(delay))
            delay = min(delay * 2, POLL_MAX_SECONDS)
    finally:
        if not done:  # the script stopped at its BEGIN: the pooled connection waits again
            await_only(driver.execute(f"PRAGMA busy_timeout={busy_ms}"))
