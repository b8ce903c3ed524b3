"""All busy: a task asked by capability runs on the first candidate that frees up.

Two agents declare the capability, each with `max_concurrent: 1`, both busy. A third task by
capability goes to the better-ranked one and waits on both semaphores; the SECOND agent frees
up first, so the task moves there (`task-reassigned`) and runs, and its request in the first
agent's queue is withdrawn: that agent's next task is not held back by it. The moved task's
first run is committed in tests/locks/histories/ and replayed.
"""

from __future__ import annotations

import os
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Replayer

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer
from tests.assign.support import HOLD, by_capability, capability, capable_agent, scripted
from tests.conftest import Api
from tests.e2e.agent_support import wait_status
from tests.e2e.tooling import pretty, wait_task
from tests.locks.agent_support import approve, event
from tests.locks.support import replay_task_history, show, until
from worker.group import WorkerGroup
from workflows.agent_task import AgentTaskWorkflow

HISTORY = Path(__file__).parents[1] / "locks" / "histories" / "task_reassign.json"


async def test_all_busy_runs_on_the_first_candidate_that_frees_up(
    api: Api, worker: WorkerGroup, fake_llm: FakeLLMServer, settings: Settings, client: Client
) -> None:
    cap = capability()
    best = await capable_agent(api, "best", [cap], max_concurrent=1)
    other = await capable_agent(api, "next", [cap], max_concurrent=1)
    first = await by_capability(api, fake_llm, cap)
    assert first["agent"] == best, pretty(first)
    await wait_status(api, first["id"], "input_required")  # holds best's only slot
    second = await by_capability(api, fake_llm, cap)
    assert second["agent"] == other, pretty(second)
    await wait_status(api, second["id"], "input_required")  # holds the other's

    third = await by_capability(api, fake_llm, cap)
    assert third["agent"] == best and third["status"] == "queued", pretty(third)
    waiting = await event(settings, third["id"], "lock-waiting")
    assert waiting["resource"] == f"agent:{best}", waiting
    assert waiting["alternatives"] == [f"agent:{other}"], waiting

    await approve(api, second["id"])  # the second-ranked agent frees up first
    assert (await wait_task(api, second["id"]))["status"] == "succeeded"
    moved = await event(settings, third["id"], "task-reassigned")
    assert moved["from"] == {"agent": best, "agent_version": "1.0.0"}, moved
    assert moved["to"] == {"agent": other, "agent_version": "1.0.0"}, moved
    assert f"agent:{other}" in moved["why"], moved
    await wait_status(api, third["id"], "input_required")  # runs on the other agent
    view = (await api.http.get(f"/v1/tasks/{third['id']}")).json()
    assert (view["agent"], view["agent_version"]) == (other, "1.0.0"), view
    held = await show(api.http, f"agent:{best}")
    assert held["holder"] == first["id"] and held["waiters"] == [], held  # withdrawn

    await approve(api, first["id"])
    assert (await wait_task(api, first["id"]))["status"] == "succeeded"
    body = {"agent": best, "input": {"prompt": "go"}, "model": scripted(fake_llm, HOLD)}
    fourth = await api.http.post("/v1/tasks", json=body)
    assert fourth.status_code == 201, fourth.text
    await wait_status(api, fourth.json()["id"], "input_required")  # not behind the moved task
    await approve(api, fourth.json()["id"])
    await approve(api, third["id"])
    for task_id in (third["id"], fourth.json()["id"]):
        assert (await wait_task(api, task_id))["status"] == "succeeded"

    async def runs() -> list[str]:
        found = [w.run_id async for w in client.list_workflows(f"WorkflowId='{third['id']}'")]
        return found if len(found) == 2 else []

    for run_id in await until(runs):
        history = await client.get_workflow_handle(third["id"], run_id=run_id).fetch_history()
        if os.environ.get("CAPE_RECORD_LOCK_HISTORY") and any(
            e.HasField("workflow_execution_continued_as_new_event_attributes")
            for e in history.events
        ):
            HISTORY.write_text(history.to_json())
        result = await Replayer(workflows=[AgentTaskWorkflow]).replay_workflow(history)
        assert result.replay_failure is None


async def test_the_committed_reassigned_task_history_replays() -> None:
    await replay_task_history(HISTORY, "reassign_task", "withdraw_task_lock")
