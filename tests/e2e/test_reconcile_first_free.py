"""The reconciler restarts a task assigned by capability with every candidate busy.

The row and its `task-assigned` event are written without a workflow (an API killed between
its commit and its start). The reconciler's start rebuilds the alternatives from the event, so
the task waits on both candidates' semaphores and runs on the one that frees up first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from cape.assign.choose import choose_agent
from cape.assign.event import record_assignment
from cape.db.engine import create_engine, session_factory
from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Turn
from tests.assign.support import by_capability, capability, capable_agent, scripted
from tests.conftest import Api
from tests.e2e.agent_support import wait_status
from tests.e2e.delegation_support import TEAM, row
from tests.e2e.reconcile_support import new_row, own_database
from tests.e2e.tooling import pretty, wait_task
from tests.locks.agent_support import approve, event
from worker.group import WorkerGroup


@pytest.fixture
async def settings(settings: Settings, tmp_path: Path) -> AsyncIterator[Settings]:
    """A database of the test's own, and a reconciler with a short timer and grace period."""
    tuned = settings.model_copy(
        update={"reconcile_interval_seconds": 0.5, "reconcile_grace_seconds": 1.0}
    )
    async with own_database(tuned, tmp_path / "own-db") as mine:
        yield mine


async def test_a_restarted_task_still_runs_on_the_first_candidate_that_frees_up(
    worker: WorkerGroup, api: Api, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    cap = capability()
    best = await capable_agent(api, "best", [cap], max_concurrent=1)
    other = await capable_agent(api, "next", [cap], max_concurrent=1)
    first = await by_capability(api, fake_llm, cap)
    await wait_status(api, first["id"], "input_required")  # holds best's only slot
    second = await by_capability(api, fake_llm, cap)
    assert second["agent"] == other, pretty(second)
    await wait_status(api, second["id"], "input_required")  # holds the other's

    model = scripted(fake_llm, [Turn(content="restarted done")])
    engine = create_engine(settings)
    try:
        async with session_factory(engine).begin() as session:
            assignment = await choose_agent(session, TEAM, cap, None)
            assert assignment.agent == best, assignment.reason
            lost = new_row(agent=best, agent_version="1.0.0", team_id=TEAM, model=model,
                           age=timedelta(0))  # fmt: skip
            session.add(lost)
            await session.flush()
            await record_assignment(session, lost.id, assignment)
    finally:
        await engine.dispose()

    waiting = await event(settings, lost.id, "lock-waiting")  # started by the reconciler
    assert waiting["resource"] == f"agent:{best}", waiting
    assert waiting["alternatives"] == [f"agent:{other}"], waiting
    await approve(api, second["id"])  # the second-ranked agent frees up first
    moved = await event(settings, lost.id, "task-reassigned")
    assert moved["to"] == {"agent": other, "agent_version": "1.0.0"}, moved
    done = await wait_task(api, lost.id)
    assert done["status"] == "succeeded", pretty(done)
    assert (await row(settings, lost.id)).agent == other
    await approve(api, first["id"])
    assert (await wait_task(api, first["id"]))["status"] == "succeeded"
