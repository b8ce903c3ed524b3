"""A scheduled run's task keeps the trace its row was registered in (tracing on).

A schedule's run is started by Temporal, not by a request, so no trace context comes with it:
the worker registers its row in the run's first activity (`setup_workspace`), and the row keeps
that activity's trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.service import RPCError

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Script, Turn
from tests.harness import free_port, new_api_key, wait_http
from tests.telemetry.otlp import OtlpReceiver
from tests.telemetry.test_traces import LIMIT, cape, spans_until


async def test_a_scheduled_run_keeps_the_trace_it_was_registered_in(
    settings: Settings, fake_llm: FakeLLMServer, tmp_path: Path, client: Client
) -> None:
    name = f"sched-trace-{uuid.uuid4().hex[:8]}"
    fake_llm.add_script(Script(name=name, turns=[Turn(content="tick")]))
    api_port = free_port()
    base = f"http://127.0.0.1:{api_port}"
    headers = {"Authorization": f"Bearer {await new_api_key(settings)}"}
    schedule_id = ""
    with (
        OtlpReceiver() as receiver,
        cape("worker", settings, receiver.endpoint, tmp_path / "worker.log"),
        cape("api", settings.model_copy(update={"api_port": api_port}), receiver.endpoint,
             tmp_path / "api.log"),
    ):  # fmt: skip
        await wait_http(f"{base}/healthz", LIMIT)
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=LIMIT) as http:
            try:
                body = {"agent": "assistant", "input": {"prompt": "on schedule"},
                        "model": f"script:{name}", "interval_seconds": 3600}  # fmt: skip
                created = await http.post("/v1/schedules", json=body)
                assert created.status_code == 201, created.text
                schedule_id = created.json()["id"]
                triggered = await http.post(f"/v1/schedules/{schedule_id}/trigger")
                assert triggered.status_code == 202, triggered.text
                end = time.monotonic() + LIMIT
                while not (
                    items := (await http.get(f"/v1/schedules/{schedule_id}/tasks")).json()["items"]
                ):
                    assert time.monotonic() < end, "the triggered run has no task"
                    await asyncio.sleep(0.2)
                [listed] = items
                done = (
                    await http.get(f"/v1/tasks/{listed['id']}/wait", params={"timeout": LIMIT})
                ).json()
            finally:
                if schedule_id:
                    with contextlib.suppress(RPCError):
                        await client.get_schedule_handle(schedule_id).delete()
        spans = await spans_until(
            receiver, "RunActivity:setup_workspace", "RunActivity:finish_task"
        )

    assert done["status"] == "succeeded", done
    assert listed["trace_id"] == done["trace_id"] and len(done["trace_id"]) == 32
    # Temporal starts a schedule's runs with no trace context: each activity of the run is a
    # trace of its own, and the row keeps the one of the activity that registered it.
    [registering] = [s for s in spans if s.name == "RunActivity:setup_workspace"]
    assert registering.parent_id == "" and registering.service == "cape-worker"
    assert done["trace_id"] == registering.trace_id
