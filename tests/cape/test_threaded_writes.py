"""`cape.db.writes.write` on a SQLite file: a whole transaction on a thread, for real.

The worker's step writes run this way (the write lock is not held across event-loop cycles).
It must still be one transaction: all or nothing, after another writer's lock is released,
and visible to the async engine's sessions at once. The API's engine (prompt writers) has no
threaded twin and runs the same function in the session instead (as on PostgreSQL).
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session
from sqlalchemy.pool import QueuePool

from cape.db.engine import create_engine, session_factory, threaded
from cape.db.writes import write
from cape.settings import Settings


def _settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/w.db", data_dir=tmp_path)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(_settings(tmp_path))
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE marks (n INTEGER)"))
    yield engine
    await engine.dispose()


async def marks(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as conn:
        return list((await conn.scalars(text("SELECT n FROM marks ORDER BY n"))).all())


def insert(session: Session, *numbers: int) -> int:
    for n in numbers:
        session.execute(text("INSERT INTO marks VALUES (:n)"), {"n": n})
    return len(numbers)


async def test_a_write_commits_whole_and_the_async_engine_sees_it(engine: AsyncEngine) -> None:
    assert threaded(engine) is not None
    assert await write(session_factory(engine), lambda s: insert(s, 1, 2)) == 2
    assert await marks(engine) == [1, 2]


async def test_the_twin_closes_its_connections_with_the_engine(engine: AsyncEngine) -> None:
    twin = threaded(engine)
    assert twin is not None
    await write(session_factory(engine), lambda s: insert(s, 1))
    pool = twin.pool
    assert isinstance(pool, QueuePool) and pool.checkedin() == 1
    await engine.dispose()
    assert pool.checkedin() == 0


async def test_a_failing_write_leaves_nothing(engine: AsyncEngine) -> None:
    def half(session: Session) -> None:
        insert(session, 3)
        raise ValueError("stop")

    with pytest.raises(ValueError, match="stop"):
        await write(session_factory(engine), half)
    assert await marks(engine) == []


async def test_a_write_waits_for_another_writer_and_leaves_the_loop_free(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "w.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO marks VALUES (0)")
    writing = asyncio.create_task(write(session_factory(engine), lambda s: insert(s, 5)))
    # The writer waits in SQLite's busy handler on its thread; the event loop keeps running.
    for _ in range(5):
        await asyncio.sleep(0.02)
    assert not writing.done()
    other.execute("COMMIT")
    other.close()
    assert await asyncio.wait_for(writing, 30) == 1
    assert await marks(engine) == [0, 5]


async def test_the_apis_engine_runs_the_same_function_in_the_session(tmp_path: Path) -> None:
    engine = create_engine(_settings(tmp_path), prompt_writers=True)
    assert threaded(engine) is None
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE marks (n INTEGER)"))
    assert await write(session_factory(engine), lambda s: insert(s, 7)) == 1
    assert await marks(engine) == [7]
    await engine.dispose()


async def test_a_cancelled_write_waiting_on_a_row_lock_rolls_back_on_postgresql(
    database_url: str, tmp_path: Path
) -> None:
    """Temporal gives up on an attempt whose write waits on another transaction's row lock:
    the statement is cancelled on the server, the transaction rolls back, the lock wait ends."""
    if not database_url.startswith("postgresql"):
        pytest.skip("a row lock held across connections: PostgreSQL")
    engine = create_engine(Settings(database_url=database_url, data_dir=tmp_path))
    table = f"marks_{uuid.uuid4().hex[:8]}"
    try:
        assert threaded(engine) is not None
        async with engine.begin() as conn:
            await conn.execute(text(f"CREATE TABLE {table} (n INTEGER PRIMARY KEY, v INTEGER)"))
            await conn.execute(text(f"INSERT INTO {table} VALUES (1, 0)"))

        def bump(session: Session) -> None:
            session.execute(text(f"INSERT INTO {table} VALUES (2, 0)"))
            session.execute(text(f"UPDATE {table} SET v = v + 1 WHERE n = 1"))

        async with engine.connect() as holder:
            await holder.execute(text(f"SELECT v FROM {table} WHERE n = 1 FOR UPDATE"))
            writing = asyncio.create_task(write(session_factory(engine), bump))
            await asyncio.sleep(0.5)  # the UPDATE waits on the holder's lock
            assert not writing.done()
            writing.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(writing, 10)
            await holder.rollback()
        async with engine.connect() as conn:
            rows = (await conn.execute(text(f"SELECT n, v FROM {table} ORDER BY n"))).all()
        assert [tuple(r) for r in rows] == [(1, 0)]  # the insert before the wait rolled back
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        await engine.dispose()
