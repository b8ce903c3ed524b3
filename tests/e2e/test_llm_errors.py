"""LLM HTTP errors through the real openai SDK: which retry, which fail the task, and how."""

from __future__ import annotations

import uuid
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Worker

from cape.db.models import TaskEvent
from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Fault, Script, Turn
from tests.conftest import Api
from tests.harness import read_sse, stored

ANSWER = "Recovered and answered."


async def run_task(api: Api, model: str) -> dict[str, Any]:
    """Start a task with `model`, wait for it to end and return it."""
    created = await api.http.post(
        "/v1/tasks",
        json={"agent": "assistant", "input": {"prompt": "say something"}, "model": model},
    )
    assert created.status_code == 201, created.text
    task_id = created.json()["id"]
    finished = await api.http.get(f"/v1/tasks/{task_id}/wait", params={"timeout": 25})
    assert finished.status_code == 200, finished.text
    task: dict[str, Any] = finished.json()
    assert task["status"] not in ("queued", "running"), task
    return task


def faulty(name: str, *faults: Fault) -> Script:
    return Script(name=name, turns=[Turn(content=ANSWER, faults=list(faults))])


def step_events(events: list[TaskEvent], step_no: int) -> list[tuple[str, int | None]]:
    """The step's lifecycle events as (type, attempt)."""
    return [
        (e.type, e.data.get("attempt"))
        for e in events
        if e.step_no == step_no and e.type.startswith("step-")
    ]


async def test_429_with_retry_after_is_retried_after_the_delay(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    assert settings.retry_initial_seconds < 0.5  # so a ~1 s gap can only come from retry-after
    name = f"rate-{uuid.uuid4().hex[:8]}"
    fake_llm.add_script(
        faulty(name, Fault(status=429, retry_after=1.0, message="slow down, please"))
    )

    task = await run_task(api, f"script:{name}")
    assert task["status"] == "succeeded", task
    assert task["output"] == {"answer": ANSWER}
    assert fake_llm.calls(name) == {0: 2}

    steps, events = await stored(settings, task["id"])
    llm = next(s for s in steps if s.kind == "llm")
    assert (llm.status, llm.attempt, llm.error) == ("succeeded", 2, None)
    assert step_events(events, llm.step_no) == [
        ("step-started", 1),
        ("step-retrying", 1),
        ("step-started", 2),
        ("step-finished", 2),
    ]
    retrying = next(e for e in events if e.type == "step-retrying")
    assert retrying.step_no == llm.step_no
    assert "429" in retrying.data["error"]["message"]
    assert "slow down, please" in retrying.data["error"]["message"]
    assert retrying.data["error"]["type"] == "LLMHttp429"

    # retry-after honoured: the second attempt started >= ~1 s after the first failed.
    second = next(e for e in events if e.type == "step-started" and e.data["attempt"] == 2)
    gap = (second.ts - retrying.ts).total_seconds()
    assert gap >= 0.9, f"the retry came {gap:.3f} s after the 429, retry-after was 1 s"
    assert [e.type for e in events][-1] == "task-succeeded"


async def test_500_then_success_is_retried(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    name = f"flaky-{uuid.uuid4().hex[:8]}"
    fake_llm.add_script(
        faulty(name, Fault(status=500, message="boom"), Fault(status=503, message="busy"))
    )

    task = await run_task(api, f"script:{name}")
    assert task["status"] == "succeeded", task
    assert task["output"] == {"answer": ANSWER}
    assert fake_llm.calls(name) == {0: 3}

    steps, events = await stored(settings, task["id"])
    llm = next(s for s in steps if s.kind == "llm")
    assert (llm.status, llm.attempt) == ("succeeded", 3)
    retries = [e for e in events if e.type == "step-retrying"]
    assert [(e.step_no, e.data["attempt"]) for e in retries] == [(llm.step_no, 1), (llm.step_no, 2)]
    assert "500" in retries[0].data["error"]["message"]
    assert "503" in retries[1].data["error"]["message"]


async def assert_failed_without_retry(
    api: Api,
    client: Client,
    settings: Settings,
    task: dict[str, Any],
    status: int,
    kind: str | None = None,
) -> None:
    """The task, its LLM step, its events, its SSE stream and its workflow all say failed."""
    assert task["status"] == "failed", task
    assert task["output"] is None
    assert task["finished_at"] is not None
    error = task["error"]
    assert f"HTTP {status}" in error["message"], error
    assert error["type"] == (kind or f"LLMHttp{status}"), error
    assert error["step"].startswith("llm: "), error

    steps, events = await stored(settings, task["id"])
    llm = next(s for s in steps if s.kind == "llm")
    assert (llm.status, llm.attempt) == ("failed", 1)
    assert llm.finished_at is not None
    assert f"HTTP {status}" in llm.error["message"]
    assert step_events(events, llm.step_no) == [("step-started", 1), ("step-failed", 1)]
    assert not any(e.type == "step-retrying" for e in events)
    types = [e.type for e in events]
    assert types[-1] == "task-failed"
    assert "task-succeeded" not in types
    assert events[-1].data["error"] == error

    messages = await read_sse(api.http, f"/v1/tasks/{task['id']}/events", limit=20)
    assert messages[-1]["event"] == "end"
    assert messages[-1]["data"]["data"]["status"] == "failed"
    assert [m["data"]["type"] for m in messages if "id" in m] == types

    listed = (await api.http.get(f"/v1/tasks/{task['id']}/steps")).json()
    assert [s["status"] for s in listed if s["kind"] == "llm"] == ["failed"]

    description = await client.get_workflow_handle(task["id"]).describe()
    assert description.status == WorkflowExecutionStatus.FAILED


async def test_400_fails_the_task_without_retry(
    api: Api, worker: Worker, client: Client, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    name = f"bad-{uuid.uuid4().hex[:8]}"
    fake_llm.add_script(faulty(name, Fault(status=400, message="the prompt is malformed")))

    task = await run_task(api, f"script:{name}")
    assert "400" in task["error"]["message"]
    assert "the prompt is malformed" in task["error"]["message"]
    assert fake_llm.calls(name) == {0: 1}
    await assert_failed_without_retry(api, client, settings, task, 400)


async def test_unknown_model_404_fails_without_retry(
    api: Api, worker: Worker, client: Client, settings: Settings
) -> None:
    task = await run_task(api, "script:does-not-exist")
    assert "does not exist" in task["error"]["message"]
    # A 404 is a model that is not there: the kind that makes an agent fall back (issue 3).
    await assert_failed_without_retry(api, client, settings, task, 404, "ModelNotFound")
