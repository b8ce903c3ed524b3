"""Human approval of tool calls and budgets: `input_required`, `POST /tasks/{id}/input`, expiry."""

from __future__ import annotations

import uuid

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Script, Turn
from tests.conftest import Api
from tests.e2e.agent_support import publish, spec, start, wait_status
from tests.e2e.tooling import call, events_of, pretty, results, wait_task
from tests.harness import running_api


def _script(fake_llm: FakeLLMServer, turns: list[Turn]) -> str:
    name = f"human-{uuid.uuid4().hex[:8]}"
    fake_llm.add_script(Script(name=name, turns=turns))
    return f"script:{name}"


WRITE = [
    Turn(tool_calls=[call("write_file", path="out.txt", content="hello")]),
    Turn(content="done"),
]


async def _approval_agent(api: Api) -> str:
    return await publish(api, spec(tools=[{"name": "write_file", "approval": True}, "read_file"]))


async def test_an_approved_call_runs_and_refused_answers_are_409(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings, client: Client
) -> None:
    agent = await _approval_agent(api)
    task = await start(api, agent, _script(fake_llm, WRITE))
    waiting = await wait_status(api, task["id"], "input_required")
    pending = waiting["pending_input"]
    assert pending["kind"] == "approval" and pending["tool"] == "write_file", pretty(waiting)
    assert '"path": "out.txt"' in pending["arguments"] and pending["expires_at"]
    assert waiting["live"]["pending_input"]["id"] == pending["id"]
    # The Web UI's status column (search attribute) says what the task waits for.
    described = await client.get_workflow_handle(task["id"]).describe()
    assert described.search_attributes.get("CapeStatus") == ["input_required"]
    asked = await events_of(settings, task["id"], "input-required")
    assert [e.channel for e in asked] == ["input"] and asked[0].data["id"] == pending["id"]

    stale = await api.http.post(
        f"/v1/tasks/{task['id']}/input", json={"request_id": "approval-99", "action": "approve"}
    )
    assert stale.status_code == 409 and "stale" in stale.json()["error"]["message"], stale.text
    wrong = await api.http.post(
        f"/v1/tasks/{task['id']}/input", json={"request_id": pending["id"], "action": "raise"}
    )
    assert wrong.status_code == 422 and "approval" in wrong.json()["error"]["message"]

    ok = await api.http.post(
        f"/v1/tasks/{task['id']}/input", json={"request_id": pending["id"], "action": "approve"}
    )
    assert ok.status_code == 200 and ok.json()["accepted"] is True, ok.text
    again = await api.http.post(
        f"/v1/tasks/{task['id']}/input", json={"request_id": pending["id"], "action": "approve"}
    )
    assert again.status_code == 409, again.text

    done = await wait_task(api, task["id"])
    assert done["status"] == "succeeded" and done["pending_input"] is None, pretty(done)
    assert (settings.workspace_root / task["id"] / "out.txt").read_text() == "hello"
    received = await events_of(settings, task["id"], "input-received")
    assert [(e.data["action"], e.data["by"]) for e in received] == [("approve", "tester")]


async def test_a_rejected_call_is_not_run_and_the_model_hears_why(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    agent = await _approval_agent(api)
    task = await start(api, agent, _script(fake_llm, WRITE))
    pending = (await wait_status(api, task["id"], "input_required"))["pending_input"]
    answer = {"request_id": pending["id"], "action": "reject", "reason": "not that file"}
    rejected = await api.http.post(f"/v1/tasks/{task['id']}/input", json=answer)
    assert rejected.status_code == 200, rejected.text
    done = await wait_task(api, task["id"])
    assert done["status"] == "succeeded", pretty(done)
    assert not (settings.workspace_root / task["id"] / "out.txt").exists()
    tool = results(await events_of(settings, task["id"], "tool-result"))
    assert tool[0]["ok"] is False and "rejected by tester: not that file" in tool[0]["content"]


async def test_an_unanswered_question_expires_into_timed_out(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    # The expiry is part of the task's tuning, which the API decides: an API with 2 seconds.
    quick = settings.model_copy(update={"input_timeout_seconds": 2.0})
    async with (
        running_api(quick) as url,
        httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {api.key}"}, timeout=30
        ) as http,
    ):
        short = Api(url, api.key, http)
        agent = await _approval_agent(short)
        task = await start(short, agent, _script(fake_llm, WRITE))
        done = await wait_task(short, task["id"])
    assert done["status"] == "timed_out", pretty(done)
    assert done["error"]["type"] == "InputExpired" and "approval-" in done["error"]["message"]
    expired = await events_of(settings, task["id"], "input-expired")
    last = await events_of(settings, task["id"], "task-timed-out")
    assert len(expired) == 1 and len(last) == 1 and last[0].seq > expired[0].seq
    assert not (settings.workspace_root / task["id"] / "out.txt").exists()


async def test_max_steps_asks_for_a_bigger_budget_and_goes_on_after_a_raise(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    agent = await publish(api, spec(limits={"max_steps": 5}))
    too_many = await api.http.post(
        "/v1/tasks", json={"agent": agent, "input": {"prompt": "x"}, "max_steps": 6}
    )
    assert too_many.status_code == 422 and "body.max_steps" in too_many.text, too_many.text
    turns = [
        Turn(tool_calls=[call("write_file", path="a.txt", content="a")]),
        Turn(tool_calls=[call("write_file", path="b.txt", content="b")]),
        Turn(content="done"),
    ]
    task = await start(api, agent, _script(fake_llm, turns), max_steps=1)
    waiting = await wait_status(api, task["id"], "input_required")
    pending = waiting["pending_input"]
    assert (pending["kind"], pending["exceeded"], pending["used"], pending["limit"]) == (
        "budget",
        "max_steps",
        1,
        1,
    ), pretty(waiting)
    url = f"/v1/tasks/{task['id']}/input"
    low = await api.http.post(
        url, json={"request_id": pending["id"], "action": "raise", "max_steps": 1}
    )
    assert low.status_code == 422 and "max_steps must be above" in low.text, low.text
    raised = await api.http.post(
        url, json={"request_id": pending["id"], "action": "raise", "max_steps": 5}
    )
    assert raised.status_code == 200, raised.text
    done = await wait_task(api, task["id"])
    assert done["status"] == "succeeded" and done["output"] == {"answer": "done"}, pretty(done)


async def test_token_budget_cancel_ends_the_task_canceled(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    agent = await publish(api, spec(limits={"max_tokens": 100_000}))
    turns = [Turn(tool_calls=[call("write_file", path="a.txt", content="a")]), Turn(content="x")]
    task = await start(api, agent, _script(fake_llm, turns), max_tokens=1)
    pending = (await wait_status(api, task["id"], "input_required"))["pending_input"]
    assert pending["exceeded"] == "max_tokens" and pending["used"] >= 1, pending
    answer = {"request_id": pending["id"], "action": "cancel", "reason": "too expensive"}
    canceled = await api.http.post(f"/v1/tasks/{task['id']}/input", json=answer)
    assert canceled.status_code == 200, canceled.text
    done = await wait_task(api, task["id"])
    assert done["status"] == "canceled", pretty(done)
    assert done["error"]["type"] == "CanceledByUser" and "too expensive" in done["error"]["message"]


async def test_input_to_a_task_that_waits_for_nothing_is_409(
    api: Api, worker: Worker, fake_llm: FakeLLMServer
) -> None:
    agent = await publish(api, spec())
    task = await start(api, agent, _script(fake_llm, [Turn(content="hi")]))
    await wait_task(api, task["id"])
    answer = {"request_id": "approval-2", "action": "approve"}
    late = await api.http.post(f"/v1/tasks/{task['id']}/input", json=answer)
    assert late.status_code == 409 and "not waiting" in late.json()["error"]["message"]
    bad = await api.http.post(f"/v1/tasks/{task['id']}/input", json={"action": "maybe"})
    assert bad.status_code == 422 and "body.request_id" in bad.text and "body.action" in bad.text


async def test_the_task_timeout_ends_it_as_timed_out_at_the_next_boundary(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    # The deadline must pass during the slow LLM turn, not before it: on a loaded CI machine
    # the start and the workspace step took over a second (stop 30), so they get 3 s.
    agent = await publish(api, spec(limits={"timeout_seconds": 3}))
    slow = [
        Turn(delay_seconds=4.5, tool_calls=[call("write_file", path="a.txt", content="a")]),
        Turn(content="never asked"),
    ]
    task = await start(api, agent, _script(fake_llm, slow))
    assert task["limits"]["timeout_seconds"] == 3
    done = await wait_task(api, task["id"])
    assert done["status"] == "timed_out" and done["error"]["type"] == "TaskTimeout", pretty(done)
    steps = [e.data["name"] for e in await events_of(settings, task["id"], "step-finished")]
    assert steps[-1] == "tool: write_file"  # the running step finished; no LLM turn after it
