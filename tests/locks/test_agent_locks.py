"""Agents use locks: a spec's `locks:` and `max_concurrent` hold tasks back in the lock's queue.

The first task of a device stops at an approval (holding its lock) so the second can be seen
waiting; approving the first lets the second through with the next fence, which its shell
step reads from `CAPE_LOCK_FENCES`.
"""

from __future__ import annotations

import json
import uuid

from temporalio.client import Client
from temporalio.worker import Replayer

from activities.conversation import load_messages
from cape.db.engine import create_engine, session_factory
from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Script, Turn
from cli.testing.scripts import Fault
from tests.conftest import Api
from tests.e2e.agent_support import publish, spec, stack, wait_status
from tests.e2e.tooling import call, events_of, pretty, results, wait_task
from tests.locks.agent_support import DEVICE_INPUT, ECHO, approve, device_agent, event, start
from tests.locks.support import show, until
from worker.group import WorkerGroup
from workflows.agent_task import AgentTaskWorkflow


async def test_tasks_of_one_device_run_one_after_the_other_with_growing_fences(
    api: Api, worker: WorkerGroup, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    agent = await device_agent(api)
    device, other = f"d{uuid.uuid4().hex[:8]}", f"d{uuid.uuid4().hex[:8]}"
    first = await start(api, fake_llm, agent, device)
    await wait_status(api, first, "input_required")  # holds device:<device> meanwhile
    second = await start(api, fake_llm, agent, device)
    waiting = await event(settings, second, "lock-waiting")
    assert waiting["resource"] == f"device:{device}" and waiting["position"] == 1, waiting
    assert "device" in waiting["reason"]
    view = (await api.http.get(f"/v1/tasks/{second}")).json()
    assert view["status"] == "queued" and view["waiting_for"] == waiting, view
    # Another device is not held back: its task reaches its approval while the first waits.
    third = await start(api, fake_llm, agent, other)
    await wait_status(api, third, "input_required")
    lock = await show(api.http, f"device:{device}")
    assert lock["holder"] == first and [w["holder"] for w in lock["waiters"]] == [second]

    await approve(api, first)
    assert (await wait_task(api, first))["status"] == "succeeded"
    assert (await api.http.get(f"/v1/tasks/{first}")).json()["waiting_for"] is None
    await approve(api, second)
    await approve(api, third)
    for task_id in (second, third):
        done = await wait_task(api, task_id)
        assert done["status"] == "succeeded", pretty(done)

    fences = [(await event(settings, t, "lock-acquired"))["fence"] for t in (first, second)]
    assert fences[1] > fences[0], fences
    acquired = await event(settings, second, "lock-acquired")
    assert acquired["waited"] is True and acquired["why"] == "locks"
    [seen] = results(await events_of(settings, second, "tool-result"))
    echoed = seen["content"].split("fences=", 1)[1].splitlines()[0]
    assert json.loads(echoed) == {f"device:{device}": fences[1]}, seen
    engine = create_engine(settings)
    async with session_factory(engine)() as session:  # what the model reads first
        messages = await load_messages(session, second, "system", before_step=2)
    await engine.dispose()
    assert f"device:{device} (fence {fences[1]})" in str(messages[1]["content"]), messages
    check = await api.http.get(f"/v1/locks/device:{device}/check", params={"fence": fences[1]})
    assert check.status_code == 200 and check.json()["current"] is False  # released since

    async def free() -> bool:
        return (await show(api.http, f"device:{device}"))["holder"] is None

    await until(free)


async def test_a_failed_or_canceled_task_releases_its_locks(
    api: Api, worker: WorkerGroup, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    agent = await device_agent(api)
    device = f"d{uuid.uuid4().hex[:8]}"
    failing = await start(api, fake_llm, agent, device, [Turn(faults=[Fault(status=400)])])
    assert (await wait_task(api, failing))["status"] == "failed"
    canceled = await start(api, fake_llm, agent, device)
    await wait_status(api, canceled, "input_required")
    waiting = await start(api, fake_llm, agent, device)
    await event(settings, waiting, "lock-waiting")
    sent = await api.http.post(f"/v1/tasks/{canceled}/cancel")
    assert sent.status_code == 202, sent.text
    assert (await wait_task(api, canceled))["status"] == "canceled"
    await approve(api, waiting)  # granted once the canceled task let go
    assert (await wait_task(api, waiting))["status"] == "succeeded"
    fences = [(await event(settings, t, "lock-acquired"))["fence"] for t in
              (failing, canceled, waiting)]  # fmt: skip
    assert fences == sorted(fences) and len(set(fences)) == 3, fences


async def test_max_concurrent_queues_tasks_beyond_it_with_the_reason(
    api: Api, worker: WorkerGroup, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    data = spec(tools=[{"name": "shell", "approval": True}], max_concurrent=1)
    agent = await publish(api, data)

    async def run() -> str:
        name = f"mc-{uuid.uuid4().hex[:8]}"
        fake_llm.add_script(Script(name=name, turns=ECHO))
        body = {"agent": agent, "input": {"prompt": "go"}, "model": f"script:{name}"}
        created = await api.http.post("/v1/tasks", json=body)
        assert created.status_code == 201, created.text
        return str(created.json()["id"])

    first = await run()
    await wait_status(api, first, "input_required")
    second = await run()
    waiting = await event(settings, second, "lock-waiting")
    assert waiting["resource"] == f"agent:{agent}" and waiting["why"] == "max_concurrent"
    assert "max_concurrent" in waiting["reason"], waiting
    view = (await api.http.get(f"/v1/tasks/{second}")).json()
    assert view["status"] == "queued" and view["waiting_for"]["why"] == "max_concurrent", view
    await approve(api, first)
    await approve(api, second)
    assert (await wait_task(api, second))["status"] == "succeeded"


async def test_locks_that_do_not_render_refuse_the_task_naming_the_field(
    api: Api, settings: Settings
) -> None:
    agent = await device_agent(api)
    for device in ("", "a b"):
        body = {"agent": agent, "input": {"prompt": "go", "device_id": device}}
        refused = await api.http.post("/v1/tasks", json=body)
        assert refused.status_code == 422, refused.text
        assert [d["field"] for d in refused.json()["error"]["details"]] == ["spec.locks.0"], (
            refused.text
        )
    bad = spec(locks=["device:{{ input.device_id "], max_concurrent=0)
    refused = await api.http.post("/v1/agents", json=bad)
    assert refused.status_code == 422, refused.text
    fields = {d["field"] for d in refused.json()["error"]["details"]}
    assert {"spec.locks.0", "spec.max_concurrent"} <= fields, refused.text


async def test_locks_are_renewed_and_carried_across_continue_as_new(
    client: Client, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    echoes = [Turn(tool_calls=[call("shell", command="echo $CAPE_LOCK_FENCES")]) for _ in range(4)]
    wait = Turn(tool_calls=[call("write_file", path="a.txt", content="a")])
    async with stack(client, settings, history_events_limit=40, lock_max_ttl_seconds=2.0) as api:
        data = spec(
            tools=["shell", {"name": "write_file", "approval": True}],
            input_schema=DEVICE_INPUT,
            locks=["device:{{ input.device_id }}"],
        )
        agent = await publish(api, data)
        device = f"d{uuid.uuid4().hex[:8]}"
        task = await start(api, fake_llm, agent, device, [*echoes, wait, Turn(content="ok")])
        await wait_status(api, task, "input_required")
        first = await show(api.http, f"device:{device}")
        assert first["holder"] == task, first

        async def renewed() -> bool:  # the lease (2 s) outlives itself while the task waits
            lock = await show(api.http, f"device:{device}")
            assert lock["holder"] == task, lock
            return bool(lock["lease_expires_at"] > first["lease_expires_at"])

        await until(renewed)
        await approve(api, task)
        done = await wait_task(api, task)
        assert done["status"] == "succeeded", pretty(done)
    fence = (await event(settings, task, "lock-acquired"))["fence"]
    seen = results(await events_of(settings, task, "tool-result"))
    assert all(json.loads(r["content"].splitlines()[-1]) == {f"device:{device}": fence}
               for r in seen[:4]), seen  # fmt: skip
    history = await client.get_workflow_handle(task).fetch_history()
    assert history.events[-1].HasField("workflow_execution_completed_event_attributes")
    runs = [e async for e in client.list_workflows(f'WorkflowId = "{task}"')]
    assert len(runs) >= 2, runs
    await Replayer(workflows=[AgentTaskWorkflow]).replay_workflow(history)
