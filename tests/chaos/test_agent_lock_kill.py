"""A task waiting for its lock survives a SIGKILLed worker: its place in the lock's queue lives
in the lock workflow, the killed wait is retried by the next worker, and the task gets the lock
(with the next fence) when the holder ends (docs/locks.md, "Agents use locks")."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer
from tests.chaos.support import LIMIT, fleet
from tests.conftest import Api
from tests.e2e.agent_support import wait_status
from tests.e2e.tooling import wait_task
from tests.locks.agent_support import approve, device_agent, event, start
from tests.locks.support import show, until

pytestmark = pytest.mark.timeout(120)


async def test_a_task_waiting_for_a_lock_gets_it_after_its_worker_is_killed(
    api: Api, settings: Settings, fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    with fleet(tmp_path) as procs:
        procs.start("worker", "worker", settings)
        agent = await device_agent(api)
        resource = f"device:k{uuid.uuid4().hex[:8]}"
        device = resource.split(":", 1)[1]
        first = await start(api, fake_llm, agent, device)
        await wait_status(api, first, "input_required", timeout=LIMIT)
        second = await start(api, fake_llm, agent, device)
        await event(settings, second, "lock-waiting")  # its wait now polls on that worker
        procs.kill("worker")
        procs.start("worker", "worker", settings)

        async def queued() -> bool:
            # While the new worker starts, GET falls back to the lock's database copy, which may
            # be one change behind (the save of the wait ran on the killed worker); the live
            # answer must show the same holder and the waiter still in its place.
            lock = await show(api.http, resource)
            return lock["holder"] == first and [w["holder"] for w in lock["waiters"]] == [second]

        await until(queued, LIMIT)
        await approve(api, first)
        await approve(api, second)
        for task_id in (first, second):
            assert (await wait_task(api, task_id, LIMIT))["status"] == "succeeded"
        fences = [(await event(settings, t, "lock-acquired"))["fence"] for t in (first, second)]
        assert fences[1] == fences[0] + 1, fences

        async def free() -> bool:
            return (await show(api.http, resource))["holder"] is None

        await until(free, LIMIT)
