"""Lock workflow histories replay against the current `LockWorkflow` (non-determinism gate).

A fresh history (grants, a queue, a stale renew, an expired lease, releases) is replayed, and so
is the committed one in histories/ (recorded by this test with `CAPE_RECORD_LOCK_HISTORY=1`):
a change to `LockWorkflow` that would break running locks fails here; guard it with
`workflow.patched` (docs/workflow-changes.md).
"""

from __future__ import annotations

import os
from pathlib import Path

from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer

from cape.contracts.locks import lock_workflow_id
from cape.teams import personal_team_id
from tests.conftest import Api
from tests.locks.support import acquire, release, wait_grant
from worker.group import WorkerGroup
from workflows.locks import LockWorkflow

COMMITTED = Path(__file__).parent / "histories" / "lock.json"


async def test_a_fresh_lock_history_replays(api: Api, worker: WorkerGroup, client: Client) -> None:
    resource = f"replay-{os.getpid()}-{id(api)}"
    first = (await acquire(api.http, resource, "a", ttl_seconds=1)).json()
    assert (await acquire(api.http, resource, "b", wait_seconds=60)).status_code in (200, 202)
    stale = await api.http.post(f"/v1/locks/{resource}/renew", json={"token": "nope"})
    assert stale.status_code == 409
    second = await wait_grant(api.http, resource, "b", wait_seconds=60)  # after a's lease
    assert second["fence"] == first["fence"] + 1
    assert (await release(api.http, resource, second["token"])).status_code == 200
    third = (await acquire(api.http, resource, "c", priority="high")).json()
    assert (await release(api.http, resource, third["token"])).status_code == 200
    handle = client.get_workflow_handle(lock_workflow_id(personal_team_id("tester"), resource))
    history = await handle.fetch_history()
    if os.environ.get("CAPE_RECORD_LOCK_HISTORY"):
        COMMITTED.write_text(history.to_json())
    result = await Replayer(workflows=[LockWorkflow]).replay_workflow(history)
    assert result.replay_failure is None


async def test_the_committed_lock_history_replays() -> None:
    history = WorkflowHistory.from_json("lock", COMMITTED.read_text())
    assert len(history.events) > 20
    await Replayer(workflows=[LockWorkflow]).replay_workflow(history)
