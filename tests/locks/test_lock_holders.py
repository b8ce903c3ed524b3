"""A task that holds a lock releases it when its workflow ends, however it ends; the lock
continues-as-new with its holder, queue and fence counter."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from cape.contracts.locks import lock_workflow_id
from cape.settings import Settings
from cape.teams import personal_team_id
from tests.conftest import Api
from tests.e2e.reconcile_support import insert_rows, new_row
from tests.locks.support import acquire, release, show, until, wait_grant
from worker.group import WorkerGroup


@workflow.defn(sandboxed=False)
class HeldWorkflow:
    """Stands in for a task's workflow: runs until told to finish (or is terminated)."""

    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.done)
        return "done"

    @workflow.signal
    def finish(self) -> None:
        self.done = True


@pytest.fixture
async def holders(client: Client) -> AsyncIterator[str]:
    """A worker running `HeldWorkflow` on a queue of its own; yields the queue."""
    queue = f"held-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[HeldWorkflow]):
        yield queue


async def task_holder(settings: Settings, client: Client, queue: str) -> WorkflowHandle:
    """A task row of the caller's team whose workflow (by its id) is running."""
    [task_id] = await insert_rows(settings, new_row(owner="tester", status="running"))
    return await client.start_workflow(HeldWorkflow.run, id=task_id, task_queue=queue)


@pytest.mark.parametrize("ending", ["terminated", "completed"])
async def test_a_task_holder_that_ends_releases_without_waiting_for_its_lease(
    api: Api, worker: WorkerGroup, client: Client, settings: Settings, holders: str, ending: str
) -> None:
    resource = f"dev-{uuid.uuid4().hex[:8]}"
    task = await task_holder(settings, client, holders)
    held = await acquire(api.http, resource, task.id, ttl_seconds=3600)
    assert held.status_code == 200, held.text
    assert (await show(api.http, resource))["holder_kind"] == "task"
    queued = await acquire(api.http, resource, "next", wait_seconds=600)
    assert queued.status_code == 202, queued.text
    if ending == "terminated":
        await task.terminate("test")
    else:
        await task.signal(HeldWorkflow.finish)
    grant = await wait_grant(api.http, resource, "next", wait_seconds=600)
    assert grant["fence"] == held.json()["fence"] + 1
    stale = await release(api.http, resource, held.json()["token"])
    assert stale.status_code == 409


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"lock_history_limit": 50})


async def test_continue_as_new_keeps_holder_queue_and_fences(
    api: Api, worker: WorkerGroup, client: Client
) -> None:
    resource = f"can-{uuid.uuid4().hex[:8]}"
    first = await acquire(api.http, resource, "keeper", ttl_seconds=3600)
    assert first.status_code == 200, first.text
    handle = client.get_workflow_handle(lock_workflow_id(personal_team_id("tester"), resource))
    first_run = (await handle.describe()).run_id
    queued = await acquire(api.http, resource, "patient", priority="low", wait_seconds=600)
    assert queued.status_code == 202
    fences = [first.json()["fence"]]
    other = f"{resource}-b"
    for round_ in range(12):  # each pair of updates adds ~10 events: several runs of 50
        grant = await acquire(api.http, other, f"h{round_}")
        assert grant.status_code == 200, grant.text
        assert (await release(api.http, other, grant.json()["token"])).status_code == 200
        renewed = await api.http.post(
            f"/v1/locks/{resource}/renew", json={"token": first.json()["token"]}
        )
        assert renewed.status_code == 200, renewed.text
        fences.append(grant.json()["fence"])
    assert fences[1:] == list(range(1, 13))

    async def new_run() -> bool:
        return (await handle.describe()).run_id != first_run

    await until(new_run)
    lock = await show(api.http, resource)
    assert lock["holder"] == "keeper" and lock["fence"] == 1
    assert [w["holder"] for w in lock["waiters"]] == ["patient"]
    assert (await release(api.http, resource, first.json()["token"])).status_code == 200
    grant = await wait_grant(api.http, resource, "patient", wait_seconds=600)
    assert grant["fence"] == 2
