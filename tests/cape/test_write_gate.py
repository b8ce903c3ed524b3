"""SQLite writers take turns through the write gate (cape/db/gate.py), on a real SQLite file."""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import greenlet_spawn

from cape.db.engine import create_engine, read_only, session_factory
from cape.db.gate import WriteGate
from cape.settings import Settings


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/gate.db",
        data_dir=tmp_path,
        db_sqlite_write_gate=True,
    )
    engine = create_engine(settings)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE marks (n INTEGER)"))
    yield engine
    await engine.dispose()


@pytest.fixture
def other_process_lock(tmp_path: Path) -> Iterator[int]:
    """The gate file locked through a descriptor of its own, as another process holds it."""
    fd = os.open(tmp_path / "gate.db.gate", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield fd
    finally:
        os.close(fd)


async def test_many_writers_of_one_process_all_commit(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)

    async def write(n: int) -> None:
        async with sessions.begin() as session:
            await session.execute(text("INSERT INTO marks VALUES (:n)"), {"n": n})
            await asyncio.sleep(0)  # let the others queue meanwhile

    await asyncio.gather(*(write(n) for n in range(50)))
    async with read_only(sessions)() as session:
        assert await session.scalar(text("SELECT count(*) FROM marks")) == 50


async def test_a_writer_waits_for_another_process_and_goes_on_at_its_release(
    engine: AsyncEngine, other_process_lock: int
) -> None:
    sessions = session_factory(engine)

    async def write() -> None:
        async with sessions.begin() as session:
            await session.execute(text("INSERT INTO marks VALUES (1)"))

    waiting = asyncio.create_task(write())
    await asyncio.sleep(0.3)
    assert not waiting.done()  # queued behind the other process's turn
    async with read_only(sessions)() as session:  # reads do not queue
        assert await session.scalar(text("SELECT count(*) FROM marks")) == 0
    fcntl.flock(other_process_lock, fcntl.LOCK_UN)
    await asyncio.wait_for(waiting, 30)


async def test_a_cancelled_waiter_leaves_the_turn_free(
    engine: AsyncEngine, other_process_lock: int
) -> None:
    sessions = session_factory(engine)

    async def write(n: int) -> None:
        async with sessions.begin() as session:
            await session.execute(text("INSERT INTO marks VALUES (:n)"), {"n": n})

    waiting = asyncio.create_task(write(1))
    await asyncio.sleep(0.2)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    fcntl.flock(other_process_lock, fcntl.LOCK_UN)
    await asyncio.wait_for(write(2), 30)  # neither the file nor the process's lock stayed held
    async with read_only(sessions)() as session:
        assert list(await session.scalars(text("SELECT n FROM marks"))) == [2]


async def test_a_writer_that_waits_too_long_gets_database_is_locked(
    tmp_path: Path, other_process_lock: int
) -> None:
    gate = WriteGate(tmp_path / "gate.db", timeout=0.2)

    def enter() -> None:
        gate.enter({})

    with pytest.raises(OperationalError, match="database is locked"):
        await greenlet_spawn(enter)
    fcntl.flock(other_process_lock, fcntl.LOCK_UN)
    info: dict[str, object] = {}
    await greenlet_spawn(gate.enter, info)  # the timed-out wait left nothing held
    gate.leave(info)
