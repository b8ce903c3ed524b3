"""The task API over real HTTP: idempotency, listing, live state, cancel, wait, streams."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Worker
from websockets.asyncio.client import connect

from cape.settings import Settings
from cape.telemetry.tracing import tracing_enabled
from cli.testing.fake_llm import FakeLLMServer, Fault, Script, ScriptedToolCall, Turn
from tests.conftest import Api
from tests.e2e.agent_support import wait_status
from tests.harness import new_api_key, read_sse, running_api, stored

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T | None]], timeout: float = 10.0, every: float = 0.05
) -> T:
    """Poll `probe` until it returns something other than None (bounded by `timeout`)."""
    async with asyncio.timeout(timeout):
        while True:
            value = await probe()
            if value is not None:
                return value
            await asyncio.sleep(every)


@asynccontextmanager
async def own_client(api: Api, settings: Settings) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    """A client for a fresh owner, so listings hold only this test's tasks."""
    owner = f"owner-{uuid.uuid4().hex[:10]}"
    key = await new_api_key(settings, owner=owner)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=30) as http:
        yield owner, http


def script(fake_llm: FakeLLMServer, *turns: Turn, prefix: str = "s") -> str:
    """Register a script and return the model that selects it."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    fake_llm.add_script(Script(name=name, turns=list(turns)))
    return f"script:{name}"


async def start(
    http: httpx.AsyncClient, model: str, prompt: str = "do it", **extra: Any
) -> dict[str, Any]:
    response = await http.post(
        "/v1/tasks",
        json={"agent": "assistant", "input": {"prompt": prompt}, "model": model, **extra},
    )
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


async def wait_end(http: httpx.AsyncClient, task_id: str, timeout: float = 25) -> dict[str, Any]:
    response = await http.get(f"/v1/tasks/{task_id}/wait", params={"timeout": timeout})
    assert response.status_code == 200, response.text
    task: dict[str, Any] = response.json()
    return task


async def wait_running_llm(http: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    """Poll GET until the workflow reports it is running an LLM step."""

    async def probe() -> dict[str, Any] | None:
        task: dict[str, Any] = (await http.get(f"/v1/tasks/{task_id}")).json()
        live = task["live"]
        if live and live["status"] == "running" and (live["current_step"] or "").startswith("llm"):
            return task
        return None

    return await eventually(probe, timeout=15)


async def workflows(client: Client, query: str) -> list[str]:
    return [wf.id async for wf in client.list_workflows(query)]


async def visible(client: Client, query: str, count: int = 1, timeout: float = 6.0) -> list[str]:
    """The workflow ids `query` finds once it finds `count` (visibility lags a little)."""

    async def probe() -> list[str] | None:
        found = await workflows(client, query)
        return found if len(found) >= count else None

    return await eventually(probe, timeout=timeout, every=0.2)


# -- tracing off -------------------------------------------------------------------------------


async def test_without_tracing_a_task_has_no_trace_id_nor_link(
    settings: Settings, worker: Worker, fake_llm: FakeLLMServer
) -> None:
    """No OTLP endpoint: `trace_id` is null and there is no trace link, even with a template."""
    assert not tracing_enabled()
    template = {"trace_url_template": "http://jaeger.test/trace/{trace_id}"}
    key = await new_api_key(settings)
    async with (
        running_api(settings.model_copy(update=template)) as url,
        httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}) as http,
    ):
        response = await http.post(
            "/v1/tasks",
            json={
                "agent": "assistant",
                "input": {"prompt": "hi"},
                "model": script(fake_llm, Turn(content="ok")),
            },
        )
        assert response.status_code == 201, response.text
        assert "x-trace-id" not in response.headers
        created = response.json()
        assert created["trace_id"] is None and "trace" not in created["links"]
        done = await wait_end(http, created["id"])
        assert done["status"] == "succeeded" and done["trace_id"] is None
        assert set(done["links"]) == {
            "self",
            "steps",
            "events",
            "artifacts",
            "input",
            "temporal_ui",
            "tree",
            "messages",
        }


# -- idempotency -------------------------------------------------------------------------------


async def test_idempotency_key_returns_the_same_task(
    api: Api, settings: Settings, worker: Worker, client: Client, fake_llm: FakeLLMServer
) -> None:
    model = script(fake_llm, Turn(content="once"), prefix="idem")
    body = {"agent": "assistant", "input": {"prompt": "only once"}, "model": model}
    key = {"Idempotency-Key": f"idem-{uuid.uuid4().hex}"}
    async with own_client(api, settings) as (owner, http):
        first = await http.post("/v1/tasks", json=body, headers=key)
        assert first.status_code == 201, first.text
        second = await http.post("/v1/tasks", json=body, headers=key)
        assert second.status_code == 200, second.text
        task_id = first.json()["id"]
        assert second.json()["id"] == task_id
        assert first.headers["Location"] == second.headers["Location"] == f"/v1/tasks/{task_id}"

        assert (await wait_end(http, task_id))["status"] == "succeeded"
        # After it ended the key still answers with the same task (and does not rerun it).
        third = await http.post("/v1/tasks", json=body, headers=key)
        assert third.status_code == 200
        assert third.json()["id"] == task_id
        assert third.json()["status"] == "succeeded"

        listed = (await http.get("/v1/tasks")).json()
        assert [t["id"] for t in listed["items"]] == [task_id]
        assert await visible(client, f"CapeOwner='{owner}'") == [task_id]
        assert fake_llm.calls(model.removeprefix("script:")) == {0: 1}

        other_input = {**body, "input": {"prompt": "something else"}}
        conflict = await http.post("/v1/tasks", json=other_input, headers=key)
        assert conflict.status_code == 409, conflict.text
        error = conflict.json()["error"]
        assert error["code"] == "conflict"
        assert "Idempotency-Key" in error["message"]
        assert error["details"] == {"task_id": task_id}

        # Any other explicitly given field is a different request too.
        for changed in ({"model": "script:another"}, {"max_steps": 3}):
            conflict = await http.post("/v1/tasks", json={**body, **changed}, headers=key)
            assert conflict.status_code == 409, (changed, conflict.text)
        # Naming the default that was used is the same request.
        same = await http.post(
            "/v1/tasks", json={**body, "max_steps": settings.max_steps}, headers=key
        )
        assert same.status_code == 200, same.text
        assert same.json()["id"] == task_id

        # A different key is a different task.
        fresh = await http.post("/v1/tasks", json=body, headers={"Idempotency-Key": "another"})
        assert fresh.status_code == 201
        assert fresh.json()["id"] != task_id
        await wait_end(http, fresh.json()["id"])


async def test_concurrent_posts_with_one_key_make_one_task(
    api: Api, settings: Settings, worker: Worker, client: Client, fake_llm: FakeLLMServer
) -> None:
    model = script(fake_llm, Turn(content="once"), prefix="race")
    body = {"agent": "assistant", "input": {"prompt": "race"}, "model": model}
    key = {"Idempotency-Key": f"race-{uuid.uuid4().hex}"}
    async with own_client(api, settings) as (owner, http):
        responses = await asyncio.gather(
            *(http.post("/v1/tasks", json=body, headers=key) for _ in range(5))
        )
        assert sorted(r.status_code for r in responses) == [200, 200, 200, 200, 201], [
            r.text for r in responses
        ]
        ids = {r.json()["id"] for r in responses}
        assert len(ids) == 1
        (task_id,) = ids
        assert (await wait_end(http, task_id))["status"] == "succeeded"
        listed = (await http.get("/v1/tasks")).json()
        assert [t["id"] for t in listed["items"]] == [task_id]
        assert await visible(client, f"CapeOwner='{owner}'") == [task_id]
        steps, _ = await stored(settings, task_id)
        assert [s.kind for s in steps] == ["workspace", "llm"]


# -- listing -----------------------------------------------------------------------------------


async def test_list_filters_and_cursor_pagination(
    api: Api, settings: Settings, worker: Worker, fake_llm: FakeLLMServer
) -> None:
    ok = script(fake_llm, Turn(content="fine"), prefix="ok")

    def bad() -> str:  # a fault plays once per script: one script per failing task
        return script(fake_llm, Turn(content="never", faults=[Fault(status=400)]), prefix="bad")

    async with own_client(api, settings) as (owner, http):
        created: list[str] = []
        for model in [ok, bad(), ok, bad(), ok]:
            created.append((await start(http, model))["id"])
        ended = [await wait_end(http, task_id) for task_id in created]
        assert [t["status"] for t in ended] == [
            "succeeded",
            "failed",
            "succeeded",
            "failed",
            "succeeded",
        ]
        newest_first = list(reversed(created))

        everything = (await http.get("/v1/tasks")).json()
        assert [t["id"] for t in everything["items"]] == newest_first
        assert everything["next_cursor"] is None
        assert all(t["owner"] == owner for t in everything["items"])

        failed = (await http.get("/v1/tasks", params={"status": "failed"})).json()
        assert [t["id"] for t in failed["items"]] == [created[3], created[1]]
        succeeded = (await http.get("/v1/tasks", params={"status": "succeeded"})).json()
        assert [t["id"] for t in succeeded["items"]] == [created[4], created[2], created[0]]
        running = (await http.get("/v1/tasks", params={"status": "running"})).json()
        assert running == {"items": [], "next_cursor": None}

        by_agent = (await http.get("/v1/tasks", params={"agent": "assistant"})).json()
        assert [t["id"] for t in by_agent["items"]] == newest_first
        other_agent = (await http.get("/v1/tasks", params={"agent": "researcher"})).json()
        assert other_agent["items"] == []
        both = (
            await http.get("/v1/tasks", params={"agent": "assistant", "status": "failed"})
        ).json()
        assert [t["id"] for t in both["items"]] == [created[3], created[1]]

        pages: list[list[str]] = []
        cursor: str | None = None
        for _ in range(10):
            params: dict[str, Any] = {"limit": 2}
            if cursor is not None:
                params["cursor"] = cursor
            page = (await http.get("/v1/tasks", params=params)).json()
            pages.append([t["id"] for t in page["items"]])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert [len(p) for p in pages] == [2, 2, 1]
        assert [task_id for page in pages for task_id in page] == newest_first

        # The cursor combines with a filter.
        first = (await http.get("/v1/tasks", params={"limit": 2, "status": "succeeded"})).json()
        rest = (
            await http.get(
                "/v1/tasks",
                params={"limit": 2, "status": "succeeded", "cursor": first["next_cursor"]},
            )
        ).json()
        assert [t["id"] for t in first["items"] + rest["items"]] == [
            created[4],
            created[2],
            created[0],
        ]
        assert rest["next_cursor"] is None


# -- live state, wait, cancel ------------------------------------------------------------------


async def test_get_shows_live_state_while_running(
    api: Api, worker: Worker, fake_llm: FakeLLMServer
) -> None:
    model = script(fake_llm, Turn(content="slowly", delay_seconds=2), prefix="live")
    task = await start(api.http, model)
    running = await wait_running_llm(api.http, task["id"])
    assert running["status"] == "running"
    live = running["live"]
    assert live["current_step"] == f"llm: {model}"
    assert live["steps"] == 2  # workspace, then this LLM turn
    assert live["llm_turns"] == 0

    finished = await wait_end(api.http, task["id"])
    assert finished["status"] == "succeeded"
    assert finished["live"] is None
    again = (await api.http.get(f"/v1/tasks/{task['id']}")).json()
    assert again["status"] == "succeeded"
    assert again["live"] is None
    assert again["usage"]["total_tokens"] > 0


async def test_wait_with_a_short_timeout_returns_the_running_task(
    api: Api, worker: Worker, fake_llm: FakeLLMServer
) -> None:
    model = script(fake_llm, Turn(content="late", delay_seconds=10), prefix="wait")
    task = await start(api.http, model)
    await wait_running_llm(api.http, task["id"])

    began = time.monotonic()
    response = await api.http.get(f"/v1/tasks/{task['id']}/wait", params={"timeout": 0.5})
    elapsed = time.monotonic() - began
    assert response.status_code == 200
    waited = response.json()
    assert waited["status"] == "running"
    assert waited["finished_at"] is None
    assert waited["live"]["status"] == "running"
    assert 0.4 <= elapsed < 5, elapsed

    # Clean up: nothing should keep the worker busy for 10 s.
    assert (await api.http.post(f"/v1/tasks/{task['id']}/cancel")).status_code == 202
    assert (await wait_end(api.http, task["id"]))["status"] == "canceled"


async def test_cancel_a_task_waiting_on_a_slow_llm(
    api: Api, worker: Worker, client: Client, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    model = script(fake_llm, Turn(content="too late", delay_seconds=10), prefix="cancel")
    task = await start(api.http, model)
    await wait_running_llm(api.http, task["id"])

    began = time.monotonic()
    cancel = await api.http.post(f"/v1/tasks/{task['id']}/cancel")
    assert cancel.status_code == 202, cancel.text
    assert cancel.json()["id"] == task["id"]

    ended = await wait_end(api.http, task["id"], timeout=20)
    assert ended["status"] == "canceled", ended
    assert ended["output"] is None
    assert ended["finished_at"] is not None
    assert time.monotonic() - began < 9, "cancel did not interrupt the 10 s LLM call"

    steps, events = await stored(settings, task["id"])
    assert [(s.kind, s.status) for s in steps] == [
        ("workspace", "succeeded"),
        ("llm", "canceled"),
    ]
    types = [e.type for e in events]
    assert types[-1] == "task-canceled"
    assert "task-succeeded" not in types and "task-failed" not in types

    messages = await read_sse(api.http, f"/v1/tasks/{task['id']}/events", limit=20)
    assert messages[-1]["data"]["data"]["status"] == "canceled"

    description = await client.get_workflow_handle(task["id"]).describe()
    assert description.status == WorkflowExecutionStatus.CANCELED

    again = await api.http.post(f"/v1/tasks/{task['id']}/cancel")
    assert again.status_code == 409


# -- WebSocket ---------------------------------------------------------------------------------


def tool_then_answer(fake_llm: FakeLLMServer) -> str:
    return script(
        fake_llm,
        Turn(
            content="Writing it down.",
            tool_calls=[
                ScriptedToolCall(
                    name="write_file", arguments={"path": "a.txt", "content": "streamed"}
                )
            ],
        ),
        Turn(content="Wrote a.txt for you."),
        prefix="ws",
    )


async def read_ws(url: str, limit: float = 30) -> list[dict[str, Any]]:
    """Every message of the socket until the server closes it (after `end`)."""
    messages: list[dict[str, Any]] = []
    async with asyncio.timeout(limit), connect(url) as ws:
        async for raw in ws:
            message = json.loads(raw)
            if message.get("type") != "ping":
                messages.append(message)
        assert ws.close_code == 1000
    return messages


async def test_websocket_delivers_the_sse_events_and_resumes(
    api: Api, worker: Worker, fake_llm: FakeLLMServer
) -> None:
    task = await start(api.http, tool_then_answer(fake_llm))
    ws = api.url.replace("http://", "ws://", 1) + f"/v1/tasks/{task['id']}/ws"

    # Followed live from the start, then replayed after the end: the same sequence.
    live = await read_ws(f"{ws}?access_token={api.key}")
    sse = await read_sse(api.http, f"/v1/tasks/{task['id']}/events", limit=30)
    replayed = await read_ws(f"{ws}?access_token={api.key}")

    envelopes = [m["data"] for m in sse if "id" in m]
    assert len(envelopes) > 8
    assert [e["seq"] for e in envelopes] == list(range(1, len(envelopes) + 1))
    assert live[:-1] == envelopes
    assert replayed[:-1] == envelopes
    assert envelopes[-1]["type"] == "task-succeeded"
    for messages in (live, replayed):
        end = messages[-1]
        assert end["type"] == "end"
        assert end["task_id"] == task["id"]
        assert end["data"] == {"status": "succeeded", "last_seq": len(envelopes)}
    assert sse[-1]["data"] == live[-1]

    resumed = await read_ws(f"{ws}?access_token={api.key}&since=3")
    assert resumed[:-1] == envelopes[3:]
    assert resumed[-1]["type"] == "end"
    everything_seen = await read_ws(f"{ws}?access_token={api.key}&since={len(envelopes)}")
    assert everything_seen == [live[-1]]

    # SSE resumes the same way, by Last-Event-ID.
    sse_resumed = await read_sse(
        api.http, f"/v1/tasks/{task['id']}/events", headers={"Last-Event-ID": "3"}, limit=30
    )
    assert [m["data"] for m in sse_resumed if "id" in m] == envelopes[3:]


# -- max_steps ---------------------------------------------------------------------------------


async def test_max_steps_stops_the_task_until_someone_raises_or_cancels(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings, client: Client
) -> None:
    looping = Turn(content="Looking again.", tool_calls=[ScriptedToolCall(name="list_files")])
    model = script(fake_llm, looping, looping, looping, looping, prefix="loop")
    task = await start(api.http, model, max_steps=2)
    assert task["max_steps"] == 2

    waiting = await wait_status(api, task["id"], "input_required")
    pending = waiting["pending_input"]
    assert (pending["exceeded"], pending["used"], pending["limit"]) == ("max_steps", 2, 2)
    assert fake_llm.calls(model.removeprefix("script:")) == {0: 1, 1: 1}
    steps, _ = await stored(settings, task["id"])
    assert [(s.kind, s.status) for s in steps] == [
        ("workspace", "succeeded"),
        ("llm", "succeeded"),
        ("tool", "succeeded"),
        ("llm", "succeeded"),
        ("tool", "succeeded"),
    ]
    answer = {"request_id": pending["id"], "action": "cancel", "reason": "enough"}
    assert (await api.http.post(f"/v1/tasks/{task['id']}/input", json=answer)).status_code == 200
    ended = await wait_end(api.http, task["id"])
    assert ended["status"] == "canceled" and ended["error"]["type"] == "CanceledByUser", ended
    _, events = await stored(settings, task["id"])
    assert events[-1].type == "task-canceled"
    description = await client.get_workflow_handle(task["id"]).describe()
    assert description.status == WorkflowExecutionStatus.COMPLETED


# -- search attributes -------------------------------------------------------------------------


async def test_search_attributes_find_the_task(
    api: Api, worker: Worker, client: Client, fake_llm: FakeLLMServer
) -> None:
    task = await start(api.http, script(fake_llm, Turn(content="found"), prefix="sa"))
    task_id = task["id"]
    assert await visible(client, f"CapeAgent='assistant' AND WorkflowId='{task_id}'") == [task_id]
    assert await visible(client, f"CapeOwner='tester' AND WorkflowId='{task_id}'") == [task_id]

    assert (await wait_end(api.http, task_id))["status"] == "succeeded"
    assert await visible(client, f"CapeStatus='succeeded' AND WorkflowId='{task_id}'") == [task_id]
    assert await workflows(client, f"CapeStatus='failed' AND WorkflowId='{task_id}'") == []
