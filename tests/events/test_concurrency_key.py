"""A trigger's `concurrency_key`: its tasks with the same rendered key run one at a time.

The first event's task stops at an approval while holding its key's lock; the second event
with the same key waits in that lock's queue, one with another key runs meanwhile.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from temporalio.worker import Worker

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Script, ScriptedToolCall, Turn
from tests.conftest import Api
from tests.e2e.tooling import events_of
from tests.events.support import own_team, publish, routed, triggered_agent
from tests.locks.support import until


async def status(http: httpx.AsyncClient, task_id: str, wanted: str) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        task: dict[str, Any] = (await http.get(f"/v1/tasks/{task_id}")).json()
        return task if task["status"] == wanted else None

    found: dict[str, Any] = await until(reached)
    return found


async def approve(http: httpx.AsyncClient, task_id: str) -> None:
    pending = (await status(http, task_id, "input_required"))["pending_input"]
    answer = {"request_id": pending["id"], "action": "approve"}
    assert (await http.post(f"/v1/tasks/{task_id}/input", json=answer)).status_code == 200


async def test_events_with_the_same_key_run_their_tasks_one_at_a_time(
    api: Api, settings: Settings, worker: Worker, fake_llm: FakeLLMServer
) -> None:
    script = f"ck-{uuid.uuid4().hex[:8]}"
    echo = ScriptedToolCall(name="shell", arguments={"command": "echo $CAPE_LOCK_FENCES"})
    fake_llm.add_script(Script(name=script, turns=[Turn(tool_calls=[echo]), Turn(content="ok")]))
    async with own_team(api, settings) as http:
        agent = await triggered_agent(
            http,
            {"event": "host.alert", "concurrency_key": "{{ event.data.host }}"},
            tools=[{"name": "shell", "approval": True}],
            model={"name": f"script:{script}"},
        )

        async def task_of(host: str) -> str:
            event = await routed(
                http, (await publish(http, "host.alert", data={"host": host}))["id"]
            )
            [route] = event["routes"]
            assert route["status"] == "started", event
            return str(route["task_id"])

        host = f"h{uuid.uuid4().hex[:6]}"
        first = await task_of(host)
        await status(http, first, "input_required")
        second = await task_of(host)
        other = await task_of(f"{host}x")
        await status(http, other, "input_required")  # another key is not held back

        async def waiting() -> list[Any]:
            return await events_of(settings, second, "lock-waiting")

        [wait] = await until(waiting)
        assert wait.data["resource"] == f"concurrency:{agent}:host.alert:{host}", wait.data
        assert wait.data["why"] == "concurrency_key"
        assert (await http.get(f"/v1/tasks/{second}")).json()["status"] == "queued"
        for task_id in (first, second, other):
            await approve(http, task_id)
        for task_id in (first, second, other):
            await status(http, task_id, "succeeded")
        acquired = [
            (await events_of(settings, t, "lock-acquired"))[0].data for t in (first, second)
        ]
        assert acquired[1]["fence"] == acquired[0]["fence"] + 1, acquired
