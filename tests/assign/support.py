"""Helpers of the assignment tests: capable agents, tasks by capability and their events."""

from __future__ import annotations

import uuid
from typing import Any

from cli.testing.fake_llm import FakeLLMServer, Script, Turn
from tests.conftest import Api
from tests.e2e.agent_support import publish, spec
from tests.e2e.tooling import call

# A shell call that waits for approval (the task holds its agent's slot meanwhile), then done.
HOLD = [Turn(tool_calls=[call("shell", command="echo held")]), Turn(content="done")]
DONE = [Turn(content="done")]


def capability() -> str:
    """A capability no other test's agents declare."""
    return f"cap-{uuid.uuid4().hex[:10]}"


async def capable_agent(api: Api, name: str, caps: list[str], **fields: Any) -> str:
    """Publish an agent `name` (with a fresh suffix) declaring `caps`; its shell needs approval.

    `fields` go to the spec as they are (`tools` replaces the default shell).
    """
    fields.setdefault("tools", [{"name": "shell", "approval": True}])
    data = spec(name=f"{name}-{uuid.uuid4().hex[:8]}", capabilities=caps, **fields)
    return await publish(api, data)


def scripted(fake_llm: FakeLLMServer, turns: list[Turn]) -> str:
    """A fresh script of `turns`; the model name a task gives to run it."""
    name = f"as-{uuid.uuid4().hex[:8]}"
    fake_llm.add_script(Script(name=name, turns=turns))
    return f"script:{name}"


async def by_capability(
    api: Api, fake_llm: FakeLLMServer, cap: str, turns: list[Turn] = HOLD, **body: Any
) -> dict[str, Any]:
    """POST /v1/tasks naming `cap` (201 expected); the created task."""
    sent = {"capability": cap, "input": {"prompt": "go"}, "model": scripted(fake_llm, turns)}
    created = await api.http.post("/v1/tasks", json=sent | body)
    assert created.status_code == 201, created.text
    return dict(created.json())
