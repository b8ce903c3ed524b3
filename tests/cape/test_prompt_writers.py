"""The API's SQLite writers take the write lock in the first gap (`begin_promptly`), for real.

Another connection (as the worker's process) holds SQLite's write lock; the prompt writer waits
for it without sleeping in SQLite's busy handler, commits once it is free, and leaves its pooled
connection with the normal `busy_timeout` for the reads and writes that follow, also when it
gives up.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

import cape.db.engine
from cape.db.engine import SQLITE_BUSY_SECONDS, create_engine, session_factory
from cape.settings import Settings


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/p.db", data_dir=tmp_path)
    engine = create_engine(settings, prompt_writers=True)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE marks (n INTEGER)"))
    yield engine
    await engine.dispose()


def holder(tmp_path: Path) -> sqlite3.Connection:
    """Another writer of the database (the worker), holding the write lock until it commits."""
    other = sqlite3.connect(tmp_path / "p.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO marks VALUES (0)")
    return other


async def busy_timeout(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("PRAGMA busy_timeout"))).scalar_one())


async def test_a_prompt_writer_commits_once_the_other_writer_releases(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    sessions = session_factory(engine)
    other = holder(tmp_path)

    async def write() -> None:
        async with sessions.begin() as session:
            await session.execute(text("INSERT INTO marks VALUES (1)"))

    writing = asyncio.create_task(write())
    await asyncio.sleep(0.2)
    assert not writing.done()  # it waits for the lock (polling), it did not fail
    other.execute("COMMIT")
    other.close()
    await writing
    async with sessions() as session:
        assert (await session.execute(text("SELECT n FROM marks ORDER BY n"))).scalars().all() == [
            0,
            1,
        ]
    assert await busy_timeout(engine) == SQLITE_BUSY_SECONDS * 1000


async def test_a_prompt_writer_gives_up_after_the_busy_timeout_and_restores_it(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cape.db.engine, "SQLITE_BUSY_SECONDS", 0.3)
    sessions = session_factory(engine)
    other = holder(tmp_path)
    try:
        with pytest.raises(OperationalError, match="locked"):
            async with sessions.begin() as session:
                await session.execute(text("INSERT INTO marks VALUES (1)"))
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert await busy_timeout(engine) == 300  # back to the (patched) timeout, not 0


async def test_many_prompt_writers_line_up_and_all_commit(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    sessions = session_factory(engine)
    other = holder(tmp_path)

    async def write(n: int) -> None:
        async with sessions.begin() as session:
            await session.execute(text("INSERT INTO marks VALUES (:n)"), {"n": n})
            await asyncio.sleep(0)  # the others queue meanwhile

    writing = asyncio.gather(*(write(n) for n in range(1, 21)))
    await asyncio.sleep(0.1)
    other.execute("COMMIT")
    other.close()
    await writing
    async with sessions() as session:
        assert await session.scalar(text("SELECT count(*) FROM marks")) == 21
    assert await busy_timeout(engine) == SQLITE_BUSY_SECONDS * 1000
