"""Helpers of the channel tests: trees of tasks and scripted agents that message each other.

In production `delegate` creates a child's row with `parent_id` (the delegating task) and
`relation: "delegated"`. These tests build the same links themselves: they start ordinary
tasks through the API and set the two columns in the app database, before any of the tasks
sends a message (every scripted task here first waits in `read_messages`, or its parent's id
is fixed in advance by an `Idempotency-Key`).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update

from cape.db.engine import create_engine, session_factory
from cape.db.models import Task
from cape.settings import Settings
from cape.tasks.ids import new_task_id
from cli.testing.fake_llm import FakeLLMServer, Script, Turn
from tests.conftest import Api
from tests.e2e.agent_support import publish, spec
from tests.e2e.tooling import call, wait_task

CHANNEL_TOOLS = ["send_message", "read_messages"]


async def channel_agent(api: Api) -> str:
    """A published agent that may send and read messages."""
    return await publish(api, spec(tools=CHANNEL_TOOLS))


async def start_scripted(
    api: Api, fake_llm: FakeLLMServer, agent: str, turns: list[Turn], key: str | None = None
) -> str:
    """Start a task of `agent` whose model follows `turns`; its id."""
    name = f"chan-{uuid.uuid4().hex[:8]}"
    fake_llm.add_script(Script(name=name, turns=turns))
    headers = {"Idempotency-Key": key} if key else {}
    body: dict[str, Any] = {"agent": agent, "input": {"prompt": "go"}, "model": f"script:{name}"}
    created = await api.http.post("/v1/tasks", json=body, headers=headers)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def team_of(settings: Settings, task_id: str) -> str:
    engine = create_engine(settings)
    try:
        async with session_factory(engine)() as session:
            return str(await session.scalar(select(Task.team_id).where(Task.id == task_id)))
    finally:
        await engine.dispose()


async def future_id(settings: Settings, some_task: str, key: str) -> str:
    """The id the API will give a task of `some_task`'s team started with `Idempotency-Key`."""
    return new_task_id(await team_of(settings, some_task), key)


async def link(settings: Settings, parent_id: str, *children: str) -> None:
    """Make `children` delegated children of `parent_id` (what `delegate` records)."""
    engine = create_engine(settings)
    try:
        async with session_factory(engine).begin() as session:
            await session.execute(
                update(Task)
                .where(Task.id.in_(children))
                .values(parent_id=parent_id, relation="delegated")
            )
    finally:
        await engine.dispose()


async def relate(settings: Settings, task_id: str, relation: str) -> None:
    """Set the task's `relation` alone (a rerun or fork keeps its parent_id)."""
    engine = create_engine(settings)
    try:
        async with session_factory(engine).begin() as session:
            await session.execute(update(Task).where(Task.id == task_id).values(relation=relation))
    finally:
        await engine.dispose()


async def message_tree(
    api: Api, fake_llm: FakeLLMServer, settings: Settings
) -> tuple[str, str, str, str]:
    """A finished tree root → child → grandchild where the root sent the child "hello child".

    Returns (agent, root, child, grandchild).
    """
    agent = await channel_agent(api)
    wait = call("read_messages", wait_seconds=600)
    child = await start_scripted(
        api, fake_llm, agent, [Turn(tool_calls=[wait]), Turn(content="child answer")]
    )
    grandchild = await start_scripted(api, fake_llm, agent, [Turn(content="leaf answer")])
    key = f"root-{uuid.uuid4().hex}"
    root = await future_id(settings, child, key)
    await link(settings, root, child)
    await link(settings, child, grandchild)
    send = call("send_message", to=child, text="hello child")
    turns = [Turn(tool_calls=[send]), Turn(content="root answer")]
    assert await start_scripted(api, fake_llm, agent, turns, key=key) == root
    for task in (root, child, grandchild):
        assert (await wait_task(api, task))["status"] == "succeeded"
    return agent, root, child, grandchild
