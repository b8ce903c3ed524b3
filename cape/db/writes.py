"""A short write transaction in one go, run whole on a writer thread where it pays.

With aiosqlite every statement, cursor and fetch is a hop to the driver's thread and back to
the event loop, and SQLite's write lock is held from `BEGIN IMMEDIATE` to `COMMIT` across all
of them: in a busy worker one step boundary held the lock for a dozen loop cycles, and the
API's `POST /v1/tasks` waited behind it. With psycopg's asyncio driver every round trip wakes
the event loop. `write` runs the transaction's statements on a thread through the blocking
driver (`cape.db.engine.threaded`: the worker's engines, SQLite and PostgreSQL), so SQLite's
lock is held only while they run and PostgreSQL's round trips cost no loop cycles. Elsewhere
(the API's engine, SQLite with the write gate, an in-memory database) the same function runs
in the session's own transaction through `run_sync`: the same statements.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from cape.db.engine import WRITE_THREADS, threaded

T = TypeVar("T")
_threads = ThreadPoolExecutor(WRITE_THREADS, thread_name_prefix="cape-db-write")


async def write(sessions: async_sessionmaker[AsyncSession], work: Callable[[Session], T]) -> T:
    """Run `work` in one write transaction, committed when it returns; its result.

    `work` gets a synchronous session and must not await (it may run on another thread):
    compute what it needs first. If the caller is cancelled while it runs on a thread, the
    transaction still commits or rolls back as a whole before the cancellation goes on, as if
    the process had stopped after it: the writes it is used for are idempotent (dedupe keys,
    stored step outputs). On PostgreSQL the running statement is cancelled (a lock wait ends).
    """
    bind: AsyncEngine = sessions.kw["bind"]
    twin = threaded(bind)
    if twin is None:
        async with sessions.begin() as session:
            return await session.run_sync(work)
    running: list[Any] = []  # the driver connection, while the transaction runs

    def run() -> T:
        with Session(twin, expire_on_commit=False) as session, session.begin():
            running.append(session.connection().connection.dbapi_connection)
            try:
                return work(session)
            finally:
                running.clear()

    context = contextvars.copy_context()
    done = asyncio.get_running_loop().run_in_executor(_threads, context.run, run)
    try:
        return await asyncio.shield(done)
    except asyncio.CancelledError:
        if twin.dialect.name == "postgresql":
            # A statement waiting on a row lock would hold its thread and its locks long after
            # Temporal gave up on the attempt: the server cancels it and the transaction rolls
            # back, as the asyncio driver does on cancellation.
            for connection in running[:1]:  # a copy: the thread may clear it meanwhile
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(connection.cancel_safe)
        with contextlib.suppress(Exception):
            await done
        raise
