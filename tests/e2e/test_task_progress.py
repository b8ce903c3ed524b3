"""`GET /v1/tasks/{id}` of a running task: its `live` block from the rows, with no workflow query.

The API's Temporal client gets a counting interceptor (the real client, the real dev server and
worker), so each test sees how many `state` queries a request sent: none by default, one with
`?live=true`; and both views of the same moment agree field by field, also on what only the
workflow decides: a pause asked for and not reached yet, its runs after continue-as-new, and the
deadline of a task with a timeout.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.client import Client, Interceptor, OutboundInterceptor, QueryWorkflowInput
from temporalio.worker import Worker

import api.app
from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Script, Turn
from tests.conftest import Api
from tests.e2e.agent_support import publish, spec, stack
from tests.e2e.test_tasks_api import eventually, script, start, wait_end
from tests.e2e.tooling import call
from tests.harness import new_api_key, running_api


class Queries(Interceptor):
    """Counts the workflow queries the API's client sends."""

    def __init__(self) -> None:
        self.sent = 0

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        counter = self

        class Counting(OutboundInterceptor):
            async def query_workflow(self, input: QueryWorkflowInput) -> Any:
                counter.sent += 1
                return await super().query_workflow(input)

        return Counting(next)


@pytest.fixture
def queries(monkeypatch: pytest.MonkeyPatch) -> Queries:
    """Every API started in the test counts its queries here."""
    counter = Queries()
    plain = api.app.temporal_interceptors
    monkeypatch.setattr(api.app, "temporal_interceptors", lambda: [*plain(), counter])
    return counter


@pytest.fixture
async def counted(settings: Settings, queries: Queries) -> AsyncIterator[tuple[Api, Queries]]:
    """The real API whose Temporal client counts its queries."""
    key = await new_api_key(settings)
    async with running_api(settings) as url:
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
            yield Api(url, key, http), queries


async def in_llm_step(http: httpx.AsyncClient, task_id: str, model: str) -> dict[str, Any]:
    """The task (row view) once its current step is the LLM turn of `model`."""

    async def probe() -> dict[str, Any] | None:
        task: dict[str, Any] = (await http.get(f"/v1/tasks/{task_id}")).json()
        live = task["live"]
        return task if live and live["current_step"] == f"llm: {model}" else None

    return await eventually(probe, timeout=20)


async def both_views(
    http: httpx.AsyncClient, queries: Queries, task_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The `live` block read from the rows (asserting no query), then from the workflow."""
    before = queries.sent
    rows = (await http.get(f"/v1/tasks/{task_id}")).json()
    assert queries.sent == before, "GET of a running task queried the workflow"
    live = (await http.get(f"/v1/tasks/{task_id}", params={"live": "true"})).json()
    assert queries.sent == before + 1
    assert rows["live"] is not None and live["live"] is not None, (rows, live)
    return rows["live"], live["live"]


async def same_views(http: httpx.AsyncClient, queries: Queries, task_id: str) -> dict[str, Any]:
    """The row view of the running task, once it equals the workflow's view field by field."""
    rows, live = await both_views(http, queries, task_id)
    assert rows == live
    return rows


async def test_get_of_a_running_task_reads_its_rows_and_matches_the_query(
    counted: tuple[Api, Queries], worker: Worker, fake_llm: FakeLLMServer
) -> None:
    http, queries = counted[0].http, counted[1]
    model = script(fake_llm, Turn(content="slowly", delay_seconds=8), prefix="rows")
    task = await start(http, model)
    await in_llm_step(http, task["id"], model)

    rows = await same_views(http, queries, task["id"])
    assert rows["status"] == "running" and rows["steps"] == 2 and rows["llm_turns"] == 0
    assert rows["runs"] == 1 and "deadline" not in rows["limits"]
    assert rows["model"] == model and rows["paused"] is False and rows["fallbacks"] == []
    assert rows["limits"]["max_steps"] == task["max_steps"]

    # /wait of a task still running reads the rows too.
    before = queries.sent
    waited = (await http.get(f"/v1/tasks/{task['id']}/wait", params={"timeout": 0.2})).json()
    assert waited["live"]["current_step"] == f"llm: {model}" and queries.sent == before

    assert (await http.post(f"/v1/tasks/{task['id']}/cancel")).status_code == 202
    ended = await wait_end(http, task["id"])
    assert ended["status"] == "canceled" and ended["live"] is None
    before = queries.sent
    assert (await http.get(f"/v1/tasks/{task['id']}", params={"live": "true"})).json()[
        "live"
    ] is None
    assert queries.sent == before  # an ended task is never queried


async def test_a_fallback_model_shows_in_the_row_view_as_in_the_query(
    counted: tuple[Api, Queries], worker: Worker, fake_llm: FakeLLMServer
) -> None:
    api_, queries = counted
    good = f"fb-{uuid.uuid4().hex[:8]}"
    fake_llm.add_script(Script(name=good, turns=[Turn(content="late", delay_seconds=8)]))
    model = {"name": "script:no-such-model", "fallbacks": [{"name": f"script:{good}"}]}
    agent = await publish(api_, spec(model=model))
    created = await api_.http.post("/v1/tasks", json={"agent": agent, "input": {"prompt": "x"}})
    assert created.status_code == 201, created.text
    task_id = created.json()["id"]
    await in_llm_step(api_.http, task_id, f"script:{good}")

    rows = await same_views(api_.http, queries, task_id)
    assert rows["model"] == f"script:{good}" and rows["steps"] == 3 and rows["llm_turns"] == 0
    [fallback] = rows["fallbacks"]
    assert fallback["to"] == f"default/script:{good}"
    assert fallback["reason"]["type"] == "ModelNotFound"

    assert (await api_.http.post(f"/v1/tasks/{task_id}/cancel")).status_code == 202
    assert (await wait_end(api_.http, task_id))["status"] == "canceled"


async def test_a_pause_asked_for_and_the_deadline_show_in_the_row_view(
    counted: tuple[Api, Queries], worker: Worker, fake_llm: FakeLLMServer
) -> None:
    api_, queries = counted
    model = script(fake_llm, Turn(content="slowly", delay_seconds=30), prefix="pause")
    agent = await publish(api_, spec(limits={"timeout_seconds": 600}))
    created = await api_.http.post(
        "/v1/tasks", json={"agent": agent, "input": {"prompt": "x"}, "model": model}
    )
    assert created.status_code == 201, created.text
    task_id = created.json()["id"]
    await in_llm_step(api_.http, task_id, model)

    rows = await same_views(api_.http, queries, task_id)
    assert rows["paused"] is False and rows["limits"]["deadline"].startswith("20")

    # The pause waits for the LLM step to end: asked for, not reached, the status still running.
    before = queries.sent
    assert (await api_.http.post(f"/v1/tasks/{task_id}/pause")).status_code == 202
    rows = await same_views(api_.http, queries, task_id)
    assert rows["status"] == "running" and rows["paused"] is True
    assert (await api_.http.post(f"/v1/tasks/{task_id}/resume")).status_code == 202
    rows = await same_views(api_.http, queries, task_id)
    assert rows["status"] == "running" and rows["paused"] is False
    assert queries.sent == before + 2  # only the two `?live=true` reads queried

    assert (await api_.http.post(f"/v1/tasks/{task_id}/cancel")).status_code == 202
    assert (await wait_end(api_.http, task_id))["status"] == "canceled"


async def test_runs_after_continue_as_new_show_in_the_row_view(
    client: Client, settings: Settings, fake_llm: FakeLLMServer, queries: Queries
) -> None:
    reads = [Turn(tool_calls=[call("read_file", path="n.txt")]) for _ in range(8)]
    first = Turn(tool_calls=[call("write_file", path="n.txt", content="x")])
    model = script(fake_llm, first, *reads, Turn(content="late", delay_seconds=8), prefix="runs")
    async with stack(client, settings, history_events_limit=60) as api_:
        agent = await publish(api_, spec(limits={"max_steps": 50, "max_tokens": 10_000_000}))
        created = await api_.http.post(
            "/v1/tasks", json={"agent": agent, "input": {"prompt": "x"}, "model": model}
        )
        assert created.status_code == 201, created.text
        task_id = created.json()["id"]

        async def last_turn() -> dict[str, Any] | None:
            task: dict[str, Any] = (await api_.http.get(f"/v1/tasks/{task_id}")).json()
            live = task["live"]
            return (
                task if live and live["steps"] == 1 + 9 * 2 + 1 and live["llm_turns"] == 9 else None
            )

        await eventually(last_turn, timeout=60)
        rows = await same_views(api_.http, queries, task_id)
        assert rows["runs"] >= 2 and rows["steps"] == 1 + 9 * 2 + 1
        assert (await api_.http.post(f"/v1/tasks/{task_id}/cancel")).status_code == 202
        assert (await wait_end(api_.http, task_id))["status"] == "canceled"
