"""Leaving a lock's queue: `withdraw` over the API, and a task canceled while it waits.

Before withdraw, a request kept its place until it was granted (then the grant was released),
so every waiter behind it waited for its turn too. The canceled task's history (with the
withdraw) is committed in histories/ and replayed, as the lock's own history is.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Replayer

from cape.contracts.locks import lock_workflow_id
from cape.settings import Settings
from cape.teams import personal_team_id
from cli.testing.fake_llm import FakeLLMServer
from tests.conftest import Api
from tests.e2e.agent_support import wait_status
from tests.e2e.tooling import events_of, wait_task
from tests.locks.agent_support import approve, device_agent, event, start
from tests.locks.support import acquire, release, replay_task_history, show, until, wait_grant
from worker.group import WorkerGroup
from workflows.agent_task import AgentTaskWorkflow
from workflows.locks import LockWorkflow

HISTORY = Path(__file__).parent / "histories" / "task_withdraw.json"


def name() -> str:
    return f"wd-{uuid.uuid4().hex[:8]}"


async def withdraw(api: Api, resource: str, holder: str) -> dict[str, object]:
    response = await api.http.post(f"/v1/locks/{resource}/withdraw", json={"holder": holder})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_withdraw_leaves_the_queue_and_releases_a_grant_given_meanwhile(
    api: Api, worker: WorkerGroup, client: Client
) -> None:
    resource = name()
    first = (await acquire(api.http, resource, "a", ttl_seconds=300)).json()
    for holder in ("b", "c"):
        queued = await acquire(api.http, resource, holder, wait_seconds=120)
        assert queued.status_code == 202, queued.text
    assert (await withdraw(api, resource, "b"))["outcome"] == "withdrawn"
    assert [w["holder"] for w in (await show(api.http, resource))["waiters"]] == ["c"]
    assert (await withdraw(api, resource, "b"))["outcome"] == "unknown"  # asked twice: no-op
    assert (await release(api.http, resource, first["token"])).status_code == 200
    grant = await wait_grant(api.http, resource, "c", wait_seconds=120)  # b's turn skipped
    assert grant["fence"] == first["fence"] + 1
    gone = await withdraw(api, resource, "c")  # granted meanwhile: the lease is given back
    assert gone["outcome"] == "released" and gone["fence"] == grant["fence"], gone
    stale = await api.http.post(f"/v1/locks/{resource}/renew", json={"token": grant["token"]})
    assert stale.status_code == 409, stale.text
    assert (await withdraw(api, name(), "nobody"))["outcome"] == "unknown"  # no such lock
    bad = await api.http.post(f"/v1/locks/{resource}/withdraw", json={"holder": "/bad"})
    assert bad.status_code == 422 and "holder" in bad.text, bad.text
    handle = client.get_workflow_handle(lock_workflow_id(personal_team_id("tester"), resource))
    result = await Replayer(workflows=[LockWorkflow]).replay_workflow(await handle.fetch_history())
    assert result.replay_failure is None


async def test_a_task_canceled_while_waiting_leaves_the_queue_at_once(
    api: Api, worker: WorkerGroup, fake_llm: FakeLLMServer, settings: Settings, client: Client
) -> None:
    agent = await device_agent(api)
    device = f"d{uuid.uuid4().hex[:8]}"
    resource = f"device:{device}"
    holding = await start(api, fake_llm, agent, device)
    await wait_status(api, holding, "input_required")  # holds the device meanwhile
    canceled = await start(api, fake_llm, agent, device)
    await event(settings, canceled, "lock-waiting")
    behind = await start(api, fake_llm, agent, device)
    await event(settings, behind, "lock-waiting")
    sent = await api.http.post(f"/v1/tasks/{canceled}/cancel")
    assert sent.status_code == 202, sent.text
    assert (await wait_task(api, canceled))["status"] == "canceled"

    async def left() -> bool:
        lock = await show(api.http, resource)
        return lock["holder"] == holding and [w["holder"] for w in lock["waiters"]] == [behind]

    await until(left)  # while the first still holds the device: not at the canceled one's turn
    await approve(api, holding)
    await approve(api, behind)  # granted straight after the first, the canceled one skipped
    assert (await wait_task(api, behind))["status"] == "succeeded"
    assert not await events_of(settings, canceled, "lock-acquired")
    history = await client.get_workflow_handle(canceled).fetch_history()
    if os.environ.get("CAPE_RECORD_LOCK_HISTORY"):
        HISTORY.write_text(history.to_json())
    result = await Replayer(workflows=[AgentTaskWorkflow]).replay_workflow(history)
    assert result.replay_failure is None


async def test_the_committed_withdrawn_task_history_replays() -> None:
    await replay_task_history(HISTORY, "withdraw_task_lock")
