"""All busy, delegated: a child started by `delegate` by capability runs on the first that frees.

Two agents declare the capability, each with `max_concurrent: 1`, both busy. A manager delegates
by capability: the child goes to the better-ranked one and waits on both semaphores (its
workflow input carries the other as an alternative). The SECOND agent frees up first, so the
child moves there (`task-reassigned` on the child), still writes in the parent's workspace
(`share_workspace`) and the manager reads its answer. The
`task-assigned` event rebuilds the same alternatives (the reconciler's and a retried
`prepare_delegation`'s way).
"""

from __future__ import annotations

import uuid
from typing import Any

from cape.assign.event import recorded_alternatives
from cape.contracts.task_input import Alternative
from cape.db.engine import create_engine, session_factory
from cape.db.models import Task
from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Turn
from tests.assign.support import by_capability, capability, capable_agent, scripted
from tests.conftest import Api
from tests.e2e.agent_support import wait_status
from tests.e2e.delegation_support import agent, create, ids, row
from tests.e2e.tooling import call, events_of, pretty, results, wait_task
from tests.locks.agent_support import approve, event
from worker.group import WorkerGroup


async def test_a_child_delegated_by_capability_runs_on_the_first_candidate_that_frees_up(
    api: Api, worker: WorkerGroup, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    cap = capability()
    notes = Turn(tool_calls=[call("write_file", path="notes.md", content="child notes")])
    child_model = {"name": scripted(fake_llm, [notes, Turn(content="child done")])}
    best = await _capable(api, "best", cap, model=child_model)
    other = await _capable(api, "next", cap, model=child_model)
    first = await by_capability(api, fake_llm, cap)
    assert first["agent"] == best, pretty(first)
    await wait_status(api, first["id"], "input_required")  # holds best's only slot
    second = await by_capability(api, fake_llm, cap)
    assert second["agent"] == other, pretty(second)
    await wait_status(api, second["id"], "input_required")  # holds the other's

    turns = [
        Turn(tool_calls=[call("delegate", capability=cap, input="do it", share_workspace=True)]),
        Turn(content="manager done"),
    ]
    manager = await agent(api, scripted(fake_llm, turns), ["delegate"])
    key = f"dlg-{uuid.uuid4().hex}"
    parent, (child_id,) = ids(key, 3)  # workspace, model turn, the delegate step
    await create(api, manager, key)
    waiting = await event(settings, child_id, "lock-waiting")
    assert waiting["resource"] == f"agent:{best}", waiting
    assert waiting["alternatives"] == [f"agent:{other}"], waiting
    assert await _recorded(settings, child_id) == [Alternative(other, "1.0.0", 1)]

    await approve(api, second["id"])  # the second-ranked agent frees up first
    assert (await wait_task(api, second["id"]))["status"] == "succeeded"
    moved = await event(settings, child_id, "task-reassigned")
    assert moved["from"] == {"agent": best, "agent_version": "1.0.0"}, moved
    assert moved["to"] == {"agent": other, "agent_version": "1.0.0"}, moved
    done = await wait_task(api, parent)
    assert done["status"] == "succeeded", pretty(done)
    child = await row(settings, child_id)
    assert (child.agent, child.status, child.parent_id) == (other, "succeeded", parent)
    (result,) = results(await events_of(settings, parent, "tool-result"))
    assert result["ok"] and "child done" in result["content"], pretty(result)
    shared = settings.workspace_root / parent / "delegated" / child_id / "notes.md"
    assert shared.read_text() == "child notes"  # the moved child kept the shared workspace

    await approve(api, first["id"])  # best's slot was never taken by the moved child
    assert (await wait_task(api, first["id"]))["status"] == "succeeded"


async def _capable(api: Api, name: str, cap: str, **fields: Any) -> str:
    """An agent declaring `cap`, one task at a time; its shell needs approval."""
    tools = [{"name": "shell", "approval": True}, "write_file"]
    return await capable_agent(api, name, [cap], tools=tools, max_concurrent=1, **fields)


async def _recorded(settings: Settings, task_id: str) -> list[Alternative]:
    engine = create_engine(settings)
    try:
        async with session_factory(engine)() as session:
            task = await session.get(Task, task_id)
            assert task is not None, task_id
            return await recorded_alternatives(session, task)
    finally:
        await engine.dispose()
