"""A short write transaction in one go: on SQLite, run whole on a thread.

With aiosqlite every statement, cursor and fetch is a hop to the driver's thread and back to
the event loop, and SQLite's write lock is held from `BEGIN IMMEDIATE` to `COMMIT` across all
of them: in a busy worker one step boundary held the lock for a dozen loop cycles, and the
API's `POST /v1/tasks` waited behind it. `write` runs the transaction's statements on a thread
through the synchronous driver (`cape.db.engine.threaded`), so the lock is held only while
they run. Elsewhere (PostgreSQL, SQLite with the write gate, an in-memory database) the same
function runs in the session's own transaction through `run_sync`: the same statements.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from cape.db.engine import WRITE_THREADS, threaded

T = TypeVar("T")
_threads = ThreadPoolExecutor(WRITE_THREADS, thread_name_prefix="cape-db-write")


async def write(sessions: async_sessionmaker[AsyncSession], work: Callable[[Session], T]) -> T:
    """Run `work` in one write transaction, committed when it returns; its result.

    `work` gets a synchronous session and must not await (it may run on another thread):
    compute what it needs first. If the caller is cancelled while it runs on a thread, the
    transaction still commits or rolls back as a whole, as if the process had stopped after it:
    the writes it is used for are idempotent (dedupe keys, stored step outputs).
    """
    bind: AsyncEngine = sessions.kw["bind"]
    twin = threaded(bind)
    if twin is None:
        async with sessions.begin() as session:
            return await session.run_sync(work)

    def run() -> T:
        with Session(twin, expire_on_commit=False) as session, session.begin():
            return work(session)

    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(_threads, context.run, run)
