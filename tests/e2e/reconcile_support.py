"""Pieces of the reconciler tests: a database of their own and task rows written directly.

A row written here without a workflow is what an API that died between its commit and its
workflow start leaves behind.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from temporalio.client import Client

from api.tasks.launch import start_workflow
from cape.db.agent_models import Agent
from cape.db.engine import create_engine, session_factory
from cape.db.models import Task, utcnow
from cape.registry.builtin import ensure_builtins
from cape.registry.resolve import load_spec
from cape.settings import Settings
from cape.teams import personal_team_id
from migrations.apply import upgrade
from tests.harness import drop_database, make_database


@asynccontextmanager
async def own_database(settings: Settings, tmp: Path) -> AsyncIterator[Settings]:
    """`settings` on a fresh, migrated database with the built-in agents.

    The session database holds other tests' rows, which a reconciler would also repair.
    """
    admin = os.environ.get("CAPE_TEST_DATABASE_URL")
    tmp.mkdir(parents=True, exist_ok=True)
    url, name = make_database(admin, tmp)
    mine = settings.model_copy(update={"database_url": url})
    await asyncio.to_thread(upgrade, mine)
    engine = create_engine(mine)
    try:
        await ensure_builtins(session_factory(engine))
    finally:
        await engine.dispose()
    try:
        yield mine
    finally:
        if admin and name:
            drop_database(admin, name)


def new_row(
    *,
    owner: str = "tester",
    status: str = "queued",
    age: timedelta = timedelta(minutes=1),
    model: str = "demo",
    **fields: Any,
) -> Task:
    """A task row of the built-in `assistant`, created `age` ago (not yet stored)."""
    created = utcnow() - age
    values: dict[str, Any] = {
        "id": f"task_{uuid.uuid4().hex}",
        "agent": "assistant",
        "agent_version": "",
        "owner": owner,
        "team_id": personal_team_id(owner),
        "status": status,
        "input": {"prompt": "write"},
        "model": model,
        "max_steps": 5,
        "limits": {"max_steps": 5},
        "usage": {},
        "last_seq": 0,
        "created_at": created,
        "updated_at": created,
        "started_at": created if status != "queued" else None,
        **fields,
    }
    return Task(**values)


async def insert_rows(settings: Settings, *rows: Task) -> list[str]:
    """Store rows (their agent version: the built-in's) and return their ids."""
    engine = create_engine(settings)
    try:
        async with session_factory(engine)() as session:
            version = await assistant_version(session)
            for row in rows:
                row.agent_version = row.agent_version or version
                session.add(row)
            await session.commit()
        return [row.id for row in rows]
    finally:
        await engine.dispose()


async def assistant_version(session: Any) -> str:
    """The built-in assistant's default version."""
    version = await session.scalar(select(Agent.default_version).where(Agent.name == "assistant"))
    assert version, "built-in agents not seeded"
    await load_spec(session, "assistant", version)
    return str(version)


async def rows_of(settings: Settings, ids: list[str]) -> dict[str, Task]:
    """The rows as the database holds them now."""
    engine = create_engine(settings)
    try:
        async with session_factory(engine)() as session:
            found = await session.scalars(select(Task).where(Task.id.in_(ids)))
            return {t.id: t for t in found}
    finally:
        await engine.dispose()


async def start_for(settings: Settings, temporal: Client, row: Task) -> None:
    """Start the row's workflow the way the API does (the row itself may be stored or not)."""
    engine = create_engine(settings)
    try:
        async with session_factory(engine)() as session:
            row.agent_version = row.agent_version or await assistant_version(session)
            spec = await load_spec(session, row.agent, row.agent_version)
    finally:
        await engine.dispose()
    await start_workflow(temporal, settings, row, spec)
