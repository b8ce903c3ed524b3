"""Delegation guards through the real workflow: each refusal is a tool error the model reads.

An unknown agent, a capability no agent declares, a cycle (the manager delegating its own
task again), too deep a chain and too many children: the tasks go on and succeed.
"""

from __future__ import annotations

import uuid

import pytest
from temporalio.worker import Worker

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Turn
from tests.conftest import Api
from tests.e2e.delegation_support import agent, create, ids, rows, script
from tests.e2e.tooling import call, events_of, pretty, results, wait_task


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"delegation_max_depth": 1, "delegation_max_children": 1})


async def test_a_model_that_delegates_in_a_loop_hits_the_guards(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    leaf = await agent(api, script(fake_llm, [Turn(content="leaf")]), [])
    deeper = Turn(tool_calls=[call("delegate", agent=leaf, input="deeper")])
    middle = await agent(api, script(fake_llm, [deeper, Turn(content="middle done")]), ["delegate"])
    manager = f"t-{uuid.uuid4().hex[:10]}"
    turns = [
        Turn(tool_calls=[
            call("delegate", agent="no-such-agent", input="x"),
            call("delegate", capability="writing", input="x"),
            call("delegate", agent=manager, input={"prompt": "go"}),
            call("delegate", agent=leaf, input={"wrong": 1}),
        ]),
        Turn(tool_calls=[call("delegate", agent=middle, input="m")]),
        Turn(tool_calls=[call("delegate", agent=leaf, input="second")]),
        Turn(content="done"),
    ]  # fmt: skip
    await agent(api, script(fake_llm, turns), ["delegate"], name=manager)
    key = f"dlg-{uuid.uuid4().hex}"
    parent, (middle_id,) = ids(key, 8)
    await create(api, manager, key, prompt="go")
    done = await wait_task(api, parent)
    assert done["status"] == "succeeded", pretty(done)

    out = sorted(results(await events_of(settings, parent, "tool-result")), key=lambda r: r["id"])
    said = [r["content"] for r in out]
    assert [r["ok"] for r in out] == [False, False, False, False, True, False], pretty(out)
    assert "unknown agent 'no-such-agent'" in said[0], said[0]
    assert "no published agent of the team declares the capability 'writing'" in said[1]
    assert "delegation cycle" in said[2] and parent in said[2]
    assert "invalid input" in said[3] and "prompt" in said[3]
    assert "middle done" in said[4]
    assert "already delegated 1 tasks" in said[5] and "CAPE_DELEGATION_MAX_CHILDREN" in said[5]
    (child,) = await rows(settings, parent)  # refused calls make no task
    assert child.id == middle_id and child.status == "succeeded"
    deep = results(await events_of(settings, middle_id, "tool-result"))
    assert "delegation too deep" in deep[0]["content"], pretty(deep)
    assert not await rows(settings, middle_id)


async def test_a_delegate_by_capability_runs_the_assigned_agent_and_records_why(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    skill = f"cap-{uuid.uuid4().hex[:8]}"
    easy = await agent(
        api, script(fake_llm, [Turn(content="easy")]), [],
        capabilities=[skill], complexity={"min": 1, "max": 3},
    )  # fmt: skip
    hard = await agent(
        api, script(fake_llm, [Turn(content="hard one done")]), [],
        capabilities=[skill], complexity={"min": 4, "max": 10},
    )  # fmt: skip
    turns = [
        Turn(tool_calls=[call("delegate", capability=skill, complexity=8, input="do it")]),
        Turn(content="done"),
    ]
    manager = await agent(api, script(fake_llm, turns), ["delegate"])
    key = f"dlg-{uuid.uuid4().hex}"
    parent, (child_id,) = ids(key, 3)  # workspace, model turn, the delegate step
    await create(api, manager, key)
    done = await wait_task(api, parent)
    assert done["status"] == "succeeded", pretty(done)
    (child,) = await rows(settings, parent)
    assert child.id == child_id and child.agent == hard != easy
    (result,) = results(await events_of(settings, parent, "tool-result"))
    assert result["ok"] and "hard one done" in result["content"], pretty(result)
    (event,) = await events_of(settings, child_id, "task-assigned")
    assigned = dict(event.data)
    assert assigned["capability"] == skill and assigned["complexity"] == 8, pretty(assigned)
    assert assigned["agent"] == hard and hard in {c["agent"] for c in assigned["candidates"]}
