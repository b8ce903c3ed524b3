"""`/metrics` of the API after scripted tasks: counters moved by exactly what ran.

API and worker run in this process (the fixtures), so one scrape shows both sides' metrics.
"""

from __future__ import annotations

import uuid

import httpx
from temporalio.worker import Worker

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Fault, Script, ScriptedToolCall, Turn
from tests.conftest import Api
from tests.e2e.agent_support import publish, spec, start, wait_status
from tests.e2e.tooling import call, pretty, wait_task
from tests.harness import iter_sse, running_api
from tests.telemetry.scrape import moved, scrape, value


def _note_script(name: str) -> Script:
    write = ScriptedToolCall(name="write_file", arguments={"path": "n.txt", "content": "hi"})
    return Script(
        name=name,
        turns=[
            # The first attempt of the first turn fails with a 500 and is retried.
            Turn(content="Writing.", tool_calls=[write], faults=[Fault(status=500)]),
            Turn(content="Done."),
        ],
    )


async def test_a_task_moves_task_step_llm_and_http_metrics_by_what_ran(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    name = f"metrics-{uuid.uuid4().hex[:8]}"
    model = f"script:{name}"
    fake_llm.add_script(_note_script(name))
    agent = await publish(api, spec(model={"name": model}, tools=["write_file"]))
    before = await scrape(f"{api.url}/metrics")

    task = await start(api, agent, None)
    done = await wait_task(api, task["id"])
    assert done["status"] == "succeeded", pretty(done)
    after = await scrape(f"{api.url}/metrics")

    llm = {"provider": "default", "model": model}
    assert moved(before, after, "cape_llm_calls_total", **llm) == {
        frozenset({**llm, "outcome": "succeeded"}.items()): 2,
        frozenset({**llm, "outcome": "failed"}.items()): 1,
    }
    [errors] = moved(before, after, "cape_llm_errors_total", **llm).values()
    assert errors == 1
    usage = done["usage"]
    tokens = moved(before, after, "cape_llm_tokens_total", **llm)
    assert tokens == {
        frozenset({**llm, "direction": "prompt"}.items()): usage["prompt_tokens"],
        frozenset({**llm, "direction": "completion"}.items()): usage["completion_tokens"],
    }
    owner = {"agent": agent, "team": "team_tester"}  # the team `new_api_key` makes for "tester"
    assert moved(before, after, "cape_tasks_started_total", **owner) == {
        frozenset(owner.items()): 1
    }
    assert moved(before, after, "cape_tasks_finished_total", **owner) == {
        frozenset({**owner, "status": "succeeded"}.items()): 1
    }
    steps = moved(before, after, "cape_step_duration_seconds_count")
    assert steps == {
        frozenset({"kind": "workspace", "tool": "", "outcome": "succeeded"}.items()): 1,
        frozenset({"kind": "llm", "tool": "", "outcome": "failed"}.items()): 1,
        frozenset({"kind": "llm", "tool": "", "outcome": "succeeded"}.items()): 2,
        frozenset({"kind": "tool", "tool": "write_file", "outcome": "succeeded"}.items()): 1,
    }
    post = {"method": "POST", "route": "/v1/tasks", "status": "201"}
    assert (
        value(after, "cape_http_requests_total", **post)
        - value(before, "cape_http_requests_total", **post)
        == 1
    )
    wait = {"method": "GET", "route": "/v1/tasks/{task_id}/wait"}
    assert moved(before, after, "cape_http_request_duration_seconds_count", **wait) == {
        frozenset(wait.items()): 1
    }
    # No task id reaches a label: every HTTP route is a template.
    assert not any(task["id"] in str(labels) for _, labels in after)


async def test_a_fallback_counts_the_failed_model_and_its_error_type(
    api: Api, worker: Worker, fake_llm: FakeLLMServer
) -> None:
    good = f"good-{uuid.uuid4().hex[:8]}"
    fake_llm.add_script(Script(name=good, turns=[Turn(content="from the fallback")]))
    missing = f"script:missing-{uuid.uuid4().hex[:8]}"
    model = {"name": missing, "fallbacks": [{"name": f"script:{good}"}]}
    agent = await publish(api, spec(model=model))
    before = await scrape(f"{api.url}/metrics")
    done = await wait_task(api, (await start(api, agent, None))["id"])
    assert done["status"] == "succeeded", pretty(done)
    after = await scrape(f"{api.url}/metrics")

    failed = {"provider": "default", "model": missing}
    assert moved(before, after, "cape_llm_fallbacks_total", **failed) == {
        frozenset(failed.items()): 1
    }
    assert moved(before, after, "cape_llm_errors_total", **failed) == {
        frozenset({**failed, "type": "ModelNotFound"}.items()): 1
    }


async def test_stream_clients_are_counted_while_connected(
    api: Api, worker: Worker, fake_llm: FakeLLMServer
) -> None:
    name = f"stream-{uuid.uuid4().hex[:8]}"
    fake_llm.add_script(Script(name=name, turns=[Turn(content="slow", delay_seconds=2)]))
    agent = await publish(api, spec(model={"name": f"script:{name}"}))
    task = await start(api, agent, None)
    sse = {"transport": "sse"}
    idle = value(await scrape(f"{api.url}/metrics"), "cape_stream_clients", **sse)
    async for _ in iter_sse(api.http, f"/v1/tasks/{task['id']}/events"):
        # The first event has arrived: this client is connected now.
        connected = value(await scrape(f"{api.url}/metrics"), "cape_stream_clients", **sse)
        assert connected == idle + 1
        break
    await wait_task(api, task["id"])


async def test_db_pools_of_api_and_worker_are_reported(api: Api, worker: Worker) -> None:
    samples = await scrape(f"{api.url}/metrics")
    for role in ("api", "worker"):
        assert ("cape_db_pool_checked_out", frozenset({("role", role)})) in samples


async def test_metrics_refuses_clients_outside_the_allow_list(settings: Settings) -> None:
    elsewhere = settings.model_copy(update={"metrics_allow": ["10.0.0.0/8"]})
    async with running_api(elsewhere) as url, httpx.AsyncClient() as http:
        refused = await http.get(f"{url}/metrics")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert "CAPE_METRICS_ALLOW" in refused.json()["error"]["message"]
    off = settings.model_copy(update={"metrics_allow": []})
    async with running_api(off) as url, httpx.AsyncClient() as http:
        assert (await http.get(f"{url}/metrics")).status_code == 404


async def test_a_waiting_approval_is_counted_until_answered(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    name = f"approve-{uuid.uuid4().hex[:8]}"
    turns = [Turn(tool_calls=[call("write_file", path="a.txt", content="x")]), Turn(content="ok")]
    fake_llm.add_script(Script(name=name, turns=turns))
    agent = await publish(api, spec(tools=[{"name": "write_file", "approval": True}]))
    task = await start(api, agent, f"script:{name}")
    pending = (await wait_status(api, task["id"], "input_required"))["pending_input"]
    waiting = {"agent": agent, "team": "team_tester", "kind": "approval"}

    samples = await scrape(f"{api.url}/metrics")
    assert value(samples, "cape_tasks_waiting", **waiting) == 1
    age = value(samples, "cape_tasks_waiting_oldest_seconds", kind="approval")
    assert 0 < age < settings.input_timeout_seconds

    answered = await api.http.post(
        f"/v1/tasks/{task['id']}/input", json={"request_id": pending["id"], "action": "approve"}
    )
    assert answered.status_code == 200, answered.text
    assert (await wait_task(api, task["id"]))["status"] == "succeeded"
    assert value(await scrape(f"{api.url}/metrics"), "cape_tasks_waiting", **waiting) == 0
