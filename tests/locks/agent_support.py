"""Helpers of the tests where agents use locks: a device agent, its tasks, approvals, events."""

from __future__ import annotations

import uuid
from typing import Any

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Script, Turn
from tests.conftest import Api
from tests.e2e.agent_support import publish, spec, wait_status
from tests.e2e.tooling import call, events_of
from tests.locks.support import until

DEVICE_INPUT = {
    "type": "object",
    "required": ["prompt", "device_id"],
    "properties": {"prompt": {"type": "string"}, "device_id": {"type": "string"}},
}
ECHO = [Turn(tool_calls=[call("shell", command='echo "fences=$CAPE_LOCK_FENCES"')]),
        Turn(content="done")]  # fmt: skip


async def device_agent(api: Api, **fields: Any) -> str:
    """An agent whose shell calls wait for approval and whose tasks lock their device."""
    data = spec(
        tools=[{"name": "shell", "approval": True}],
        input_schema=DEVICE_INPUT,
        locks=["device:{{ input.device_id }}"],
        **fields,
    )
    return await publish(api, data)


async def start(
    api: Api, fake_llm: FakeLLMServer, agent: str, device: str, turns: list[Turn] = ECHO
) -> str:
    name = f"lk-{uuid.uuid4().hex[:8]}"
    fake_llm.add_script(Script(name=name, turns=turns))
    created = await api.http.post(
        "/v1/tasks",
        json={"agent": agent, "input": {"prompt": "go", "device_id": device},
              "model": f"script:{name}"},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def approve(api: Api, task_id: str) -> None:
    pending = (await wait_status(api, task_id, "input_required"))["pending_input"]
    answer = {"request_id": pending["id"], "action": "approve"}
    sent = await api.http.post(f"/v1/tasks/{task_id}/input", json=answer)
    assert sent.status_code == 200, sent.text


async def event(settings: Settings, task_id: str, type_: str) -> dict[str, Any]:
    """The data of the task's first `type_` event, once it is there."""

    async def found() -> dict[str, Any] | None:
        events = await events_of(settings, task_id, type_)
        return dict(events[0].data) if events else None

    data: dict[str, Any] = await until(found)
    return data
