"""A worker SIGKILLed while a parent waits on three delegated tasks: each child runs once.

The worker is a real `cape worker` subprocess, killed while the three children run (after some
of their steps ended, at a seeded moment) and started again. The parent then finishes with the
three answers; each child has one row, one workflow run, and its steps and events once.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Turn
from tests.chaos.support import LIMIT, Tally, audit, fleet, rng, wait_count, wait_terminal
from tests.conftest import Api
from tests.e2e.delegation_support import agent, create, ids, rows, script
from tests.e2e.tooling import call, events_of, results

pytestmark = pytest.mark.timeout(170)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # A restarted worker notices the dead one's activities by their heartbeats.
    return settings.model_copy(update={"heartbeat_timeout_seconds": 3.0})


async def test_a_killed_worker_runs_each_delegated_task_exactly_once(
    api: Api, client: Client, fake_llm: FakeLLMServer, settings: Settings, tmp_path: Path
) -> None:
    chance = rng("delegation-kill")
    tally = Tally("delegation-kill")
    write = Turn(tool_calls=[call("write_file", path="w.txt", content="w")], delay_seconds=1.0)
    answer = Turn(content="child done", delay_seconds=0.5)
    child = await agent(api, script(fake_llm, [write, answer]), ["write_file"])
    turns = [
        Turn(tool_calls=[call("delegate", agent=child, input=f"part {n}") for n in range(3)]),
        Turn(content="all three done"),
    ]
    manager = await agent(api, script(fake_llm, turns), ["delegate"])
    key = f"dlg-kill-{uuid.uuid4().hex}"
    parent, children = ids(key, 3, 4, 5)
    with fleet(tmp_path) as procs:
        procs.start("worker", "worker", settings)
        await create(api, manager, key)
        # Kill while the children work: some of their steps ended, none of them answered.
        await wait_count(settings, [parent], "child-progress", 3, "the children's first steps")
        await asyncio.sleep(chance.uniform(0.1, 0.8))
        procs.kill("worker")
        tally.faults += 1
        await asyncio.sleep(chance.uniform(0.2, 1.0))
        procs.start("worker", "worker", settings)
        found = await wait_terminal(settings, [parent, *children], LIMIT)
    assert set(found.values()) == {"succeeded"}, found
    await audit(settings, [parent, *children], None, tally)
    assert tally.lost == 0, tally.report()
    made = await rows(settings, parent)
    assert sorted(c.id for c in made) == sorted(children)  # never a fourth child
    for child_id in children:
        runs = [w async for w in client.list_workflows(f"WorkflowId = '{child_id}'")]
        assert len(runs) == 1, runs  # started once, never again by the replayed parent
    out = results(await events_of(settings, parent, "tool-result"))
    assert len(out) == 3 and all("child done" in r["content"] for r in out), out
    finished = await events_of(settings, parent, "child-finished")
    assert sorted(e.data["child_id"] for e in finished) == sorted(children)
    tally.report()
