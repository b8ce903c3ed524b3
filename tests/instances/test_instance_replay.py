"""Instance workflow histories replay against the current `InstanceWorkflow`.

A fresh history (a pause, events queued, a resume, tasks run one at a time, a stop) is
replayed, and so is the committed one in histories/ (recorded by this test with
`CAPE_RECORD_INSTANCE_HISTORY=1`): a change to `InstanceWorkflow` that would break running
instances fails here; guard it with `workflow.patched` (docs/workflow-changes.md).
"""

from __future__ import annotations

import os
from pathlib import Path

from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer

from cape.contracts.instances import instance_workflow_id
from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer
from tests.conftest import Api
from tests.events.support import publish, routed
from tests.instances.support import agent, answering_model, instance, until
from worker.group import WorkerGroup
from workflows.instances import InstanceWorkflow

COMMITTED = Path(__file__).parent / "histories" / "instance.json"


async def test_a_fresh_instance_history_replays(
    api: Api, settings: Settings, worker: WorkerGroup, client: Client, fake_llm: FakeLLMServer
) -> None:
    http = api.http
    made = await instance(http, await agent(http, answering_model(fake_llm)))
    assert (await http.post(f"/v1/instances/{made['id']}/pause")).status_code == 200
    for n in (1, 2):
        await routed(http, (await publish(http, "deploy.r", data={"n": n}))["id"])
    await until(http, made["id"], lambda v: v["inbox_length"] == 2)
    assert (await http.post(f"/v1/instances/{made['id']}/resume")).status_code == 200
    await until(http, made["id"], lambda v: v["counters"]["succeeded"] == 2)
    assert (await http.post(f"/v1/instances/{made['id']}/stop")).status_code == 200
    await until(http, made["id"], lambda v: v["state"] == "stopped")
    team = (await http.get("/v1/teams")).json()[0]["id"]
    handle = client.get_workflow_handle(instance_workflow_id(team, made["id"]))
    assert await handle.result() == "stopped"
    history = await handle.fetch_history()
    if os.environ.get("CAPE_RECORD_INSTANCE_HISTORY"):
        COMMITTED.write_text(history.to_json())
    result = await Replayer(workflows=[InstanceWorkflow]).replay_workflow(history)
    assert result.replay_failure is None


async def test_the_committed_instance_history_replays() -> None:
    history = WorkflowHistory.from_json("instance", COMMITTED.read_text())
    assert len(history.events) > 30
    await Replayer(workflows=[InstanceWorkflow]).replay_workflow(history)
