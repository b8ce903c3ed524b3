"""Helpers of the delegation tests: scripted agents, predictable task ids, rows and events."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import select

from activities.delegation import child_task_id
from cape.db.engine import create_engine, session_factory
from cape.db.models import Task
from cape.settings import Settings
from cape.tasks.ids import new_task_id
from cape.teams import slug_of, team_id_of
from cli.testing.fake_llm import FakeLLMServer, Script, Turn
from tests.conftest import Api
from tests.e2e.agent_support import publish, spec

TEAM = team_id_of(slug_of("tester"))  # the team of the `api` fixture's key


def script(fake_llm: FakeLLMServer, turns: list[Turn]) -> str:
    """Register `turns` under a fresh name; the model name that plays them."""
    name = f"dlg-{uuid.uuid4().hex[:8]}"
    fake_llm.add_script(Script(name=name, turns=turns))
    return f"script:{name}"


async def agent(api: Api, model: str, tools: list[Any], **fields: Any) -> str:
    """Publish an agent that runs on the scripted `model` with `tools`; its name."""
    return await publish(api, spec(tools=tools, model={"name": model}, **fields))


def ids(key: str, *steps: int) -> tuple[str, list[str]]:
    """The task id an Idempotency-Key gives, and the ids of the children of its steps."""
    parent = new_task_id(TEAM, key)
    return parent, [child_task_id(TEAM, parent, step) for step in steps]


async def create(api: Api, name: str, key: str, prompt: str = "go", **body: Any) -> str:
    """POST /v1/tasks with an Idempotency-Key (so its id is known before it runs)."""
    created = await api.http.post(
        "/v1/tasks",
        json={"agent": name, "input": {"prompt": prompt}, **body},
        headers={"Idempotency-Key": key},
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def rows(settings: Settings, parent_id: str) -> list[Task]:
    """The rows of the tasks `parent_id` delegated."""
    engine = create_engine(settings)
    try:
        async with session_factory(engine)() as session:
            found = await session.scalars(select(Task).where(Task.parent_id == parent_id))
            return sorted(found, key=lambda t: t.created_at)
    finally:
        await engine.dispose()


async def row(settings: Settings, task_id: str) -> Task:
    engine = create_engine(settings)
    try:
        async with session_factory(engine)() as session:
            found = await session.get(Task, task_id)
            assert found is not None, task_id
            return found
    finally:
        await engine.dispose()


async def until_status(api: Api, task_id: str, status: str, limit: float = 60) -> dict[str, Any]:
    """Poll GET /v1/tasks/{id} until it has `status` (a child not created yet is a 404)."""
    async with asyncio.timeout(limit):
        while True:
            got = await api.http.get(f"/v1/tasks/{task_id}")
            if got.status_code == 200 and got.json()["status"] == status:
                return dict(got.json())
            assert got.status_code in (200, 404), got.text
            await asyncio.sleep(0.1)
