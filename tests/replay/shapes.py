"""Task shapes whose workflow histories are recorded and replayed (tests/replay).

Each shape is a scripted conversation driven through the real API and workflow: a success with a
tool call, an LLM 400 that fails the task, a cancel while the LLM thinks, a 429 retried, and
(issue 3) a tool call approved by a person, a budget raised, and a model fallback, (issue 16)
a task that holds locks, (issue 20) a task with a timeout, and (issue 17) a task that waits in
`read_messages` and gets a message (the `receive_message` signal another task's `send_message`
step sends) and a task that delegates to the built-in assistant (on the operator's default
model, the fake's demo), once waiting and once without wait.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from temporalio.client import Client

from cape.contracts.channels import ChannelMessage
from cape.contracts.temporal import MESSAGE_SIGNAL
from cli.testing.fake_llm import FakeLLMServer, Fault, Script, ScriptedToolCall, Turn
from tests.harness import wait_until

LIMIT = 60.0
WAIT = {"wait_seconds": 600}
TO_PARENT = {"to": "parent", "text": "thanks"}


@dataclass(frozen=True)
class Shape:
    """A script for the fake LLM, the status the task ends in, and whether to cancel it."""

    turns: Callable[[], list[Turn]]
    status: str
    cancel: bool = False
    # An agent version of its own (published first), extra task fields, and the answers given
    # (in order) each time the task stops in `input_required`.
    spec: dict[str, Any] | None = None
    body: dict[str, Any] = field(default_factory=dict)
    answers: list[dict[str, Any]] = field(default_factory=list)
    message: str | None = None  # sent to the task (as a parent would) once its model ran


def _tool_then_answer() -> list[Turn]:
    write = ScriptedToolCall(name="write_file", arguments={"path": "a.txt", "content": "a"})
    return [Turn(content="Writing a.txt.", tool_calls=[write]), Turn(content="Wrote a.txt.")]


def _delegate_then_answer() -> list[Turn]:
    waited = ScriptedToolCall(name="delegate", arguments={"agent": "assistant", "input": "one"})
    detached = ScriptedToolCall(
        name="delegate", arguments={"agent": "assistant", "input": "two", "wait": False}
    )
    return [Turn(tool_calls=[waited, detached]), Turn(content="Delegated.")]


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
    "approval": Shape(
        _tool_then_answer,
        "succeeded",
        spec={"tools": [{"name": "write_file", "approval": True}]},
        answers=[{"action": "approve"}],
    ),
    "budget_raise": Shape(
        lambda: [*_tool_then_answer()[:1], Turn(content="Done after a raise.")],
        "succeeded",
        spec={"tools": ["write_file"]},
        body={"max_steps": 1},
        answers=[{"action": "raise", "max_steps": 3}],
    ),
    "fallback": Shape(
        lambda: [Turn(content="From the fallback.")],
        "succeeded",
        spec={"tools": [], "model": {"name": "script:replay-missing", "fallbacks": ["SCRIPT"]}},
    ),
    # Issue 16: the task holds a lock and its agent's semaphore (fresh per agent) while it runs.
    "locks": Shape(
        _tool_then_answer,
        "succeeded",
        spec={"tools": ["write_file"], "locks": ["replay:{{ agent.name }}"], "max_concurrent": 1},
    ),
    # Issue 17: the task waits for a message, reads it, then sends one (refused: no parent).
    "messages": Shape(
        lambda: [
            Turn(tool_calls=[ScriptedToolCall(name="read_messages", arguments=WAIT)]),
            Turn(tool_calls=[ScriptedToolCall(name="send_message", arguments=TO_PARENT)]),
            Turn(content="Read it."),
        ],
        "succeeded",
        spec={"tools": ["read_messages", "send_message"]},
        message="hello from the replay",
    ),
    # Issue 17: a child workflow awaited, and one left to run on its own.
    "delegation": Shape(
        _delegate_then_answer, "succeeded", spec={"tools": ["delegate", "await_task"]}
    ),
    # Issue 20: a task with a timeout hands its deadline to its setup step (`deadline-in-row`).
    "deadline": Shape(
        _tool_then_answer,
        "succeeded",
        spec={"tools": ["write_file"], "limits": {"timeout_seconds": 600}},
    ),
}


async def _publish(http: httpx.AsyncClient, name: str, shape: Shape, model: str) -> str:
    assert shape.spec is not None
    spec = {
        "name": f"replay-{name.replace('_', '-')}-{uuid.uuid4().hex[:6]}",
        "version": "1.0.0",
        "system_prompt": "You are a replay test agent.",
        **shape.spec,
    }
    if "model" in spec:  # the fallback is the shape's script
        spec["model"] = {**spec["model"], "fallbacks": [{"name": model}]}
    created = await http.post("/v1/agents", params={"publish": "true"}, json=spec)
    assert created.status_code == 201, created.text
    return str(spec["name"])


async def _answer(http: httpx.AsyncClient, task_id: str, answers: list[dict[str, Any]]) -> None:
    for answer in answers:
        deadline = asyncio.get_running_loop().time() + LIMIT
        while True:
            task = (await http.get(f"/v1/tasks/{task_id}")).json()
            if task["status"] == "input_required":
                break
            assert asyncio.get_running_loop().time() < deadline, task
            await asyncio.sleep(0.1)
        body = {"request_id": task["pending_input"]["id"], **answer}
        sent = await http.post(f"/v1/tasks/{task_id}/input", json=body)
        assert sent.status_code == 200, sent.text


async def run_shape(
    http: httpx.AsyncClient, fake_llm: FakeLLMServer, name: str, client: Client | None = None
) -> str:
    """Run shape `name` as a task through the API to its end; returns the task (workflow) id.

    A shape with a `message` needs the Temporal `client` to send it.
    """
    shape = SHAPES[name]
    script = Script(name=f"replay-{name}-{uuid.uuid4().hex[:8]}", turns=shape.turns())
    fake_llm.add_script(script)
    model = f"script:{script.name}"
    request: dict[str, Any] = {"agent": "assistant", "input": {"prompt": name}, "model": model}
    if shape.spec is not None:
        request["agent"] = await _publish(http, name, shape, model)
        if "model" in shape.spec:
            del request["model"]  # the agent's own model, which fails over to the script
    created = await http.post("/v1/tasks", json={**request, **shape.body})
    assert created.status_code == 201, created.text
    task_id = str(created.json()["id"])
    await _answer(http, task_id, shape.answers)
    if shape.cancel:
        # Cancel once the LLM turn is under way.
        await wait_until(
            lambda: asyncio.sleep(0, fake_llm.calls(script.name).get(0, 0) > 0), "the LLM call"
        )
        canceled = await http.post(f"/v1/tasks/{task_id}/cancel")
        assert canceled.status_code == 202, canceled.text
    if shape.message is not None:
        assert client is not None, f"shape {name} sends a message: pass the Temporal client"
        await wait_until(
            lambda: asyncio.sleep(0, fake_llm.calls(script.name).get(0, 0) > 0), "the LLM call"
        )
        sent = ChannelMessage(
            f"msg-replay-{task_id}", "task_replay", "replay", task_id, shape.message, "2026-01-01"
        )
        await client.get_workflow_handle(task_id).signal(MESSAGE_SIGNAL, sent)
    done = await http.get(
        f"/v1/tasks/{task_id}/wait", params={"timeout": LIMIT}, timeout=LIMIT + 10
    )
    assert done.json()["status"] == shape.status, done.text
    return task_id
