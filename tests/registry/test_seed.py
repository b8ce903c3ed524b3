"""Seeding the built-in agents: idempotent, race-safe, published versions left alone."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cape.db.agent_models import Agent, AgentVersion
from cape.db.engine import create_engine, session_factory
from cape.db.models import AuditEvent
from cape.registry.builtin import BUILTIN_DIR, ensure_builtins, load_builtin_specs, seed_builtins
from cape.settings import Settings
from migrations.apply import upgrade
from tests.harness import drop_database, make_database

pytestmark = pytest.mark.database


@pytest.fixture
async def fresh(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions of a new, migrated, empty database (SQLite or PostgreSQL like the suite)."""
    admin = os.environ.get("CAPE_TEST_DATABASE_URL")
    url, name = make_database(admin, tmp_path)
    settings = Settings(database_url=url, data_dir=tmp_path / "data")
    await asyncio.to_thread(upgrade, settings)
    engine = create_engine(settings)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()
        if admin and name:
            drop_database(admin, name)


async def counts(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int, int]:
    async with sessions() as session:
        agents = await session.scalar(select(func.count()).select_from(Agent))
        versions = await session.scalar(select(func.count()).select_from(AgentVersion))
        audits = await session.scalar(select(func.count()).select_from(AuditEvent))
    return int(agents or 0), int(versions or 0), int(audits or 0)


async def test_concurrent_seeders_make_each_builtin_once(
    fresh: async_sessionmaker[AsyncSession],
) -> None:
    expected = len(load_builtin_specs())
    await asyncio.gather(*(ensure_builtins(fresh) for _ in range(4)))
    assert await counts(fresh) == (expected, expected, expected)
    await ensure_builtins(fresh)  # again at the next start: nothing changes
    assert await counts(fresh) == (expected, expected, expected)
    async with fresh() as session:
        assistant = await session.get(Agent, "assistant")
        assert assistant is not None
        assert (assistant.owner, assistant.builtin, assistant.default_version) == (
            "system", True, "0.1.0",
        )  # fmt: skip
        row = await session.scalar(select(AgentVersion).where(AgentVersion.agent == "engineer"))
        assert row is not None and row.status == "published" and row.published_at is not None


async def test_a_changed_file_never_rewrites_a_published_version(
    fresh: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    folder = tmp_path / "builtin"
    folder.mkdir()
    shutil.copy(BUILTIN_DIR / "assistant.yaml", folder)
    async with fresh() as session:
        await seed_builtins(session, folder)
    original = (folder / "assistant.yaml").read_text()
    (folder / "assistant.yaml").write_text(original.replace("A general agent", "An edited agent"))
    with structlog.testing.capture_logs() as logs:
        async with fresh() as session:
            await seed_builtins(session, folder)
    assert any("differs from its file" in entry["event"] for entry in logs), logs
    async with fresh() as session:
        row = await session.scalar(select(AgentVersion).where(AgentVersion.agent == "assistant"))
        assert row is not None and row.spec["description"].startswith("A general agent")

    # A new version in a new file is added, and becomes the default (the highest published).
    newer = original.replace("version: 0.1.0", "version: 0.2.0")
    (folder / "assistant-0.2.yaml").write_text(newer.replace("A general agent", "A newer agent"))
    async with fresh() as session:
        await seed_builtins(session, folder)
    async with fresh() as session:
        agent = await session.get(Agent, "assistant")
        assert agent is not None and agent.default_version == "0.2.0"
        assert agent.description.startswith("A newer agent")
