"""One trace from `POST /v1/tasks` through the workflow to each activity and the model call.

`cape api` and `cape worker` run as real processes with `OTEL_EXPORTER_OTLP_ENDPOINT` set to a
receiver this test serves; the worker also serves its metrics and the Temporal SDK's.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from opentelemetry.sdk.trace import TracerProvider
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.worker import Replayer

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Script, ScriptedToolCall, Turn
from tests.harness import ROOT, free_port, new_api_key, settings_env, wait_http
from tests.telemetry.otlp import OtlpReceiver, ReceivedSpan
from tests.telemetry.scrape import parse, value
from worker.observe import workflow_runner
from workflows.agent_task import AgentTaskWorkflow

LIMIT = 60.0
JAEGER = "http://jaeger.test:16686/trace/{trace_id}"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "capecontrol.json"


def family(name: str) -> str:
    """A metric family's name without the suffix of its samples or its counter type."""
    return re.sub(r"_(total|bucket|count|sum)$", "", name)


def dashboard_metrics() -> set[str]:
    """The metric names the Grafana dashboard's queries use."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    exprs = " ".join(t["expr"] for p in panels for t in p["targets"])
    return set(re.findall(r"\b(?:cape|temporal)_[a-z_]+", exprs))


@contextmanager
def cape(command: str, settings: Settings, endpoint: str, log: Path) -> Iterator[None]:
    """`cape <command>` with tracing on, stopped (SIGTERM) at the end."""
    env = settings_env(settings) | {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # ms: spans arrive while the test waits
        "CAPE_LOG_LEVEL": "INFO",
        "CAPE_LOG_JSON": "true",
    }
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", command], env=env, stdout=out, stderr=out, cwd=ROOT
        )
    try:
        yield
    finally:
        proc.terminate()
        proc.wait(30)


async def spans_until(receiver: OtlpReceiver, *names: str) -> list[ReceivedSpan]:
    """The received spans once one of each name (or name prefix) is there."""
    end = time.monotonic() + LIMIT
    while True:
        spans = receiver.received()
        if all(any(s.name.startswith(n) for s in spans) for n in names):
            return spans
        assert time.monotonic() < end, f"missing spans among {[s.name for s in spans]}"
        await asyncio.sleep(0.2)


def one(spans: list[ReceivedSpan], name: str) -> ReceivedSpan:
    [found] = [s for s in spans if s.name == name]
    return found


async def test_a_task_is_one_connected_trace_and_workers_serve_their_metrics(
    settings: Settings, fake_llm: FakeLLMServer, tmp_path: Path, client: Client
) -> None:
    name = f"trace-{uuid.uuid4().hex[:8]}"
    shell = ScriptedToolCall(name="shell", arguments={"command": "echo traced"})
    fake_llm.add_script(
        Script(name=name, turns=[Turn(content="Running.", tool_calls=[shell]), Turn(content="ok")])
    )
    fake_llm.add_script(Script(name=f"{name}-again", turns=[Turn(content="again")]))
    # A fork from step 4 (the second model call) reuses turn 0 of its script.
    fake_llm.add_script(Script(name=f"{name}-fork", turns=[Turn(content="-"), Turn(content="B")]))
    api_port, metrics_port, sdk_port = free_port(), free_port(), free_port()
    api_settings = settings.model_copy(update={"api_port": api_port, "trace_url_template": JAEGER})
    worker_settings = settings.model_copy(
        update={"worker_metrics_port": metrics_port, "worker_sdk_metrics_port": sdk_port}
    )
    base = f"http://127.0.0.1:{api_port}"
    key = await new_api_key(settings)
    with (
        OtlpReceiver() as receiver,
        cape("worker", worker_settings, receiver.endpoint, tmp_path / "worker.log"),
        cape("api", api_settings, receiver.endpoint, tmp_path / "api.log"),
    ):
        await wait_http(f"{base}/healthz", LIMIT)
        await wait_http(f"http://127.0.0.1:{metrics_port}/metrics", LIMIT)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=LIMIT) as http:
            body = {"agent": "engineer", "input": {"prompt": "hi"}, "model": f"script:{name}"}
            created = await http.post("/v1/tasks", json=body)
            assert created.status_code == 201, created.text
            task = created.json()
            waited = await http.get(f"/v1/tasks/{task['id']}/wait", params={"timeout": LIMIT})
            assert waited.json()["status"] == "succeeded", waited.text
            shown = (await http.get(f"/v1/tasks/{task['id']}")).json()
        spans = await spans_until(
            receiver,
            "POST /v1/tasks",
            "RunWorkflow:",
            "RunActivity:finish_task",
            "chat ",
            "sandbox.run",
        )
        async with httpx.AsyncClient() as plain:
            texts = [
                (await plain.get(f"{url}/metrics")).text
                for url in (base, f"http://127.0.0.1:{metrics_port}")
            ]
            sdk_metrics = (await plain.get(f"http://127.0.0.1:{sdk_port}/metrics")).text
        api_metrics, worker_metrics = parse(texts[0]), parse(texts[1])
        # After the scrapes (which count one task): a rerun and a fork, each of its request's trace.
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=LIMIT) as http:
            again = {"model": f"script:{name}-again"}
            rerun = await http.post(f"/v1/tasks/{task['id']}/rerun", json=again)
            assert rerun.status_code == 201, rerun.text
            rerun_done = await http.get(
                f"/v1/tasks/{rerun.json()['id']}/wait", params={"timeout": LIMIT}
            )
            assert rerun_done.json()["status"] == "succeeded", rerun_done.text
            fork = await http.post(
                f"/v1/tasks/{task['id']}/fork", json={"step": 4, "model": f"script:{name}-fork"}
            )
            assert fork.status_code == 201, fork.text
            fork_done = await http.get(
                f"/v1/tasks/{fork.json()['id']}/wait", params={"timeout": LIMIT}
            )
            assert fork_done.json()["status"] == "succeeded", fork_done.text
        rerun_spans = await spans_until(
            receiver, "POST /v1/tasks/{task_id}/rerun", "POST /v1/tasks/{task_id}/fork"
        )

    route = one(spans, "POST /v1/tasks")
    trace_id = route.trace_id
    assert route.parent_id == "" and route.service == "cape-api"
    assert created.headers["x-trace-id"] == trace_id  # from a response to its trace
    # The task keeps its trace: in the JSON it was created with and whenever it is read.
    assert task["trace_id"] == shown["trace_id"] == trace_id
    assert shown["links"]["trace"] == JAEGER.replace("{trace_id}", trace_id)
    [rerun_route] = [s for s in rerun_spans if s.name == "POST /v1/tasks/{task_id}/rerun"]
    assert rerun.headers["x-trace-id"] == rerun_route.trace_id != trace_id
    assert rerun.json()["trace_id"] == rerun_done.json()["trace_id"] == rerun_route.trace_id
    [fork_route] = [s for s in rerun_spans if s.name == "POST /v1/tasks/{task_id}/fork"]
    assert fork.headers["x-trace-id"] == fork_route.trace_id not in (trace_id, rerun_route.trace_id)
    assert fork.json()["trace_id"] == fork_done.json()["trace_id"] == fork_route.trace_id
    by_id = {s.span_id: s for s in spans}

    def ancestors(span: ReceivedSpan) -> list[str]:
        names = []
        while span.parent_id:
            span = by_id[span.parent_id]
            names.append(span.name)
        return names

    start = one(spans, "StartWorkflow:AgentTaskWorkflow")
    assert start.trace_id == trace_id and ancestors(start)[-1] == "POST /v1/tasks"
    run = one(spans, "RunWorkflow:AgentTaskWorkflow")
    assert run.service == "cape-worker" and run.parent_id == start.span_id
    activities = [s for s in spans if s.name.startswith("RunActivity:")]
    assert {"setup_workspace", "call_llm", "run_tool", "finish_task"} <= {
        s.name.removeprefix("RunActivity:") for s in activities
    }
    for activity in activities:
        assert activity.trace_id == trace_id, activity
        parent = by_id[activity.parent_id]
        assert parent.name == activity.name.replace("RunActivity:", "StartActivity:")
        # Temporal's interceptor hangs a workflow's spans under the span that started it.
        assert ancestors(parent) == ["StartWorkflow:AgentTaskWorkflow", "POST /v1/tasks"]
    chats = [s for s in spans if s.name == f"chat script:{name}"]
    assert len(chats) == 2
    for chat in chats:
        assert by_id[chat.parent_id].name == "RunActivity:call_llm"
        assert chat.attributes["gen_ai.request.model"] == f"script:{name}"
        assert int(str(chat.attributes["gen_ai.usage.input_tokens"])) > 0
        assert int(str(chat.attributes["gen_ai.usage.output_tokens"])) > 0
    assert {s.trace_id for s in spans if s.name.endswith("AgentTaskWorkflow")} == {trace_id}
    [sandboxed] = [s for s in spans if s.name == "sandbox.run"]
    assert ancestors(sandboxed)[0] == "RunActivity:run_tool" and sandboxed.trace_id == trace_id
    assert sandboxed.attributes["cape.sandbox.exit_code"] == 0

    # The worker's logs of the task carry the trace id.
    lines = [json.loads(x) for x in (tmp_path / "worker.log").read_text().splitlines() if "{" in x]
    finished = [x for x in lines if x.get("event") == "task finished"]
    assert finished and finished[0]["trace_id"] == trace_id

    # Each process counts only what it did: this API one request, this worker one task.
    post = {"method": "POST", "route": "/v1/tasks", "status": "201"}
    assert value(api_metrics, "cape_http_requests_total", **post) == 1
    done = {"agent": "engineer", "team": "team_tester", "status": "succeeded"}
    assert value(worker_metrics, "cape_tasks_finished_total", **done) == 1
    assert ("cape_http_requests_total", frozenset(post.items())) not in worker_metrics
    # The Temporal SDK's own runtime metrics on their port.
    assert "temporal_worker_task_slots_available" in sdk_metrics
    assert "temporal_workflow_task_schedule_to_start_latency" in sdk_metrics

    # Every metric the Grafana dashboard plots is exported under that name by some process.
    exported = " ".join([*texts, sdk_metrics])
    families = {family(n) for n in re.findall(r"^# TYPE ([a-z_]+) ", exported, re.M)}
    assert {family(n) for n in dashboard_metrics()} - families == set()

    # The traced history (its headers carry the trace context) replays in the workers' sandbox.
    history = await client.get_workflow_handle(task["id"]).fetch_history()
    replayer = Replayer(
        workflows=[AgentTaskWorkflow],
        interceptors=[TracingInterceptor(TracerProvider().get_tracer("replay"))],
        workflow_runner=workflow_runner(),
    )
    assert (await replayer.replay_workflow(history)).replay_failure is None
