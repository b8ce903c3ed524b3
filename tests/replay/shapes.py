"""Task shapes whose workflow histories are recorded and replayed (tests/replay).

Each shape is a scripted conversation driven through the real API and workflow: a success with a
tool call, an LLM 400 that fails the task, a cancel while the LLM thinks, and a 429 retried.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from cape.testing.fake_llm import FakeLLMServer, Fault, Script, ScriptedToolCall, Turn
from tests.harness import wait_until

LIMIT = 60.0


@dataclass(frozen=True)
class Shape:
    """A script for the fake LLM, the status the task ends in, and whether to cancel it."""

    turns: Callable[[], list[Turn]]
    status: str
    cancel: bool = False


def _tool_then_answer() -> list[Turn]:
    write = ScriptedToolCall(name="write_file", arguments={"path": "a.txt", "content": "a"})
    return [Turn(content="Writing a.txt.", tool_calls=[write]), Turn(content="Wrote a.txt.")]


SHAPES: dict[str, Shape] = {
    "tool_success": Shape(_tool_then_answer, "succeeded"),
    "llm_400_failure": Shape(
        lambda: [Turn(content="never", faults=[Fault(status=400, message="bad request")])],
        "failed",
    ),
    "cancel": Shape(lambda: [Turn(content="too late", delay_seconds=30)], "canceled", cancel=True),
    "retry_429": Shape(
        lambda: [Turn(content="After a pause.", faults=[Fault(status=429, retry_after=0.2)])],
        "succeeded",
    ),
}


async def run_shape(http: httpx.AsyncClient, fake_llm: FakeLLMServer, name: str) -> str:
    """Run shape `name` as a task through the API to its end; returns the task (workflow) id."""
    shape = SHAPES[name]
    script = Script(name=f"replay-{name}-{uuid.uuid4().hex[:8]}", turns=shape.turns())
    fake_llm.add_script(script)
    created = await http.post(
        "/v1/tasks",
        json={"agent": "assistant", "input": {"prompt": name}, "model": f"script:{script.name}"},
    )
    assert created.status_code == 201, created.text
    task_id = str(created.json()["id"])
    if shape.cancel:
        # Cancel once the LLM turn is under way.
        await wait_until(
            lambda: asyncio.sleep(0, fake_llm.calls(script.name).get(0, 0) > 0), "the LLM call"
        )
        canceled = await http.post(f"/v1/tasks/{task_id}/cancel")
        assert canceled.status_code == 202, canceled.text
    done = await http.get(
        f"/v1/tasks/{task_id}/wait", params={"timeout": LIMIT}, timeout=LIMIT + 10
    )
    assert done.json()["status"] == shape.status, done.text
    return task_id
