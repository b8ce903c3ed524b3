"""`EventFeed.follow`: every event in order once its writer commits, idle streams cheap.

On SQLite one loop per API process reads the followed tasks' counters together; a stream with
nothing new issues no query of its own. On PostgreSQL LISTEN/NOTIFY wakes the streams.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.streams.feed import End, EventFeed
from cape.db.engine import create_engine, session_factory
from cape.db.events import NewEvent, append_events
from cape.db.finish import record_finish
from cape.db.models import Task, TaskEvent
from cape.domain import Channel, TaskStatus
from cape.settings import Settings

FOLLOWERS = 8
POLL = 0.02


@pytest.fixture
async def engine(database_url: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(Settings(database_url=database_url, data_dir=tmp_path))
    yield engine
    await engine.dispose()


async def _new_task(sessions: async_sessionmaker[AsyncSession]) -> str:
    task_id = f"feed-{uuid.uuid4().hex[:12]}"
    async with sessions.begin() as session:
        session.add(
            Task(id=task_id, agent="a", agent_version="1", owner="o", team_id="team_feed",
                 status="running", input={}, model="m", max_steps=5)
        )  # fmt: skip
    return task_id


async def _append(sessions: async_sessionmaker[AsyncSession], task_id: str, n: int) -> None:
    async with sessions.begin() as session:
        await append_events(session, task_id, [NewEvent(Channel.LIFECYCLE, "note", {"n": n})])


async def test_followers_get_every_event_and_idle_ones_share_one_poll(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        database_url=database_url, data_dir=tmp_path, sse_poll_seconds=POLL, sse_ping_seconds=30
    )
    sessions = session_factory(engine)
    feed = EventFeed(settings, sessions)
    await feed.start()
    try:
        tasks = [await _new_task(sessions) for _ in range(FOLLOWERS)]

        async def follow(task_id: str) -> list[int]:
            seen: list[int] = []
            async for item in feed.follow(task_id, 0):
                if isinstance(item, TaskEvent) and item.type == "note":
                    seen.append(item.data["n"])
                elif isinstance(item, End):
                    return seen
            raise AssertionError("the feed ended without End")

        followers = [asyncio.create_task(follow(t)) for t in tasks]
        await asyncio.sleep(10 * POLL)  # every follower has read the empty log and waits

        statements = [0]

        def count(*_: object) -> None:
            statements[0] += 1

        event.listen(engine.sync_engine, "before_cursor_execute", count)
        idle = 25 * POLL
        await asyncio.sleep(idle)
        event.remove(engine.sync_engine, "before_cursor_execute", count)
        if settings.is_sqlite:
            # Per poll, for all followers: the read's BEGIN and the counters query. Each stream
            # polling on its own issued three per follower per poll (24 here).
            assert statements[0] <= 2 * idle / POLL + 4, statements[0]
        else:
            assert statements[0] == 0, statements[0]  # LISTEN: nothing while idle

        for n in range(3):
            for task_id in tasks:
                await _append(sessions, task_id, n)
        for task_id in tasks:
            async with sessions.begin() as session:
                await session.run_sync(
                    lambda s, t=task_id: record_finish(s, t, status=TaskStatus.SUCCEEDED,
                                                       run_id="r", output={})
                )  # fmt: skip
        results = await asyncio.wait_for(asyncio.gather(*followers), 30)
        assert all(seen == [0, 1, 2] for seen in results), results
    finally:
        await feed.stop()
