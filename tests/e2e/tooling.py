"""Helpers of the tool tests that go through the real workflow: scripted calls, a finished task."""

from __future__ import annotations

import json
import uuid
from typing import Any

from cape.db.models import TaskEvent, TaskStep
from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Script, ScriptedToolCall, Turn
from tests.conftest import Api
from tests.harness import stored


def call(tool: str, /, **arguments: Any) -> ScriptedToolCall:
    return ScriptedToolCall(name=tool, arguments=arguments)


async def start_task(
    api: Api,
    fake_llm: FakeLLMServer,
    turns: list[Turn],
    *,
    agent: str = "engineer",
    prompt: str = "do the work",
    name: str | None = None,
) -> str:
    """Start a task whose model follows `turns` (script `name`); returns its id."""
    name = name or f"tools-{uuid.uuid4().hex[:8]}"
    fake_llm.add_script(Script(name=name, turns=turns))
    created = await api.http.post(
        "/v1/tasks",
        json={"agent": agent, "input": {"prompt": prompt}, "model": f"script:{name}"},
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def wait_task(api: Api, task_id: str, timeout: float = 90) -> dict[str, Any]:
    """Wait for the task to end; returns its final JSON."""
    waited = await api.http.get(
        f"/v1/tasks/{task_id}/wait", params={"timeout": timeout}, timeout=timeout + 10
    )
    assert waited.status_code == 200, waited.text
    return dict(waited.json())


async def run_task(
    api: Api,
    fake_llm: FakeLLMServer,
    turns: list[Turn],
    *,
    agent: str = "engineer",
    prompt: str = "do the work",
    timeout: float = 90,
) -> dict[str, Any]:
    """Start a task whose model follows `turns`, wait for it to end, return its final JSON."""
    task_id = await start_task(api, fake_llm, turns, agent=agent, prompt=prompt)
    return await wait_task(api, task_id, timeout)


async def tool_steps(settings: Settings, task_id: str) -> list[TaskStep]:
    steps, _ = await stored(settings, task_id)
    return [s for s in steps if s.kind == "tool"]


async def events_of(settings: Settings, task_id: str, type_: str) -> list[TaskEvent]:
    _, events = await stored(settings, task_id)
    return [e for e in events if e.type == type_]


def results(events: list[TaskEvent]) -> list[dict[str, Any]]:
    """The data of `tool-result` events, in order."""
    return [dict(e.data) for e in events if e.type == "tool-result"]


def pretty(value: Any) -> str:
    return json.dumps(value, indent=1, default=str)[:4000]
