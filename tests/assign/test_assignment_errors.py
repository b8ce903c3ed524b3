"""Bad requests by capability (422 naming the field), Idempotency-Key, and team isolation."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer
from tests.assign.support import DONE, by_capability, capability, capable_agent, scripted
from tests.conftest import Api
from tests.e2e.tooling import wait_task
from tests.harness import new_api_key
from worker.group import WorkerGroup


async def refused(api: Api, body: dict[str, Any]) -> tuple[str, list[str]]:
    sent = await api.http.post("/v1/tasks", json={"input": {"prompt": "go"}, **body})
    assert sent.status_code == 422, sent.text
    error = sent.json()["error"]
    assert error["code"] == "invalid_input", error
    return error["message"], [d.get("field") or ".".join(map(str, d["loc"])) for d in
                              error["details"]]  # fmt: skip


async def test_bad_requests_by_capability_name_the_field(api: Api) -> None:
    cap = capability()
    agent = await capable_agent(api, "ranged", [cap], complexity={"min": 1, "max": 3})
    message, fields = await refused(api, {"capability": "nobody-has-this"})
    assert fields == ["body.capability"] and "'nobody-has-this'" in message, message
    message, fields = await refused(api, {"capability": cap, "complexity": 8})
    assert fields == ["body.capability", "body.complexity"], fields
    assert repr(cap) in message and f"{agent} 1-3" in message, message
    _, fields = await refused(api, {"capability": cap, "agent": agent})
    assert fields == ["body.capability"]
    _, fields = await refused(api, {})
    assert fields == ["body.agent"]
    _, fields = await refused(api, {"agent": agent, "complexity": 2})
    assert fields == ["body.complexity"]
    _, fields = await refused(api, {"capability": cap, "agent_version": "1.0.0"})
    assert fields == ["body.agent_version"]
    for bad in (0, 11, "hard"):
        sent = await api.http.post(
            "/v1/tasks", json={"capability": cap, "complexity": bad, "input": {"prompt": "go"}}
        )
        assert sent.status_code == 422, sent.text
        assert "complexity" in sent.text


async def test_a_draft_or_another_teams_agent_is_never_assigned(
    api: Api, settings: Settings
) -> None:
    cap = capability()
    await capable_agent(api, "mine", [cap])
    draft = f"draft-{uuid.uuid4().hex[:8]}"
    made = await api.http.post(
        "/v1/agents",
        json={"name": draft, "version": "1.0.0", "system_prompt": "x", "capabilities": [cap]},
    )
    assert made.status_code == 201, made.text
    listed = (await api.http.get(f"/v1/capabilities/{cap}")).json()
    assert draft not in str(listed) and len(listed["agents"]) == 1
    key = await new_api_key(settings, owner=f"other-{uuid.uuid4().hex[:8]}")
    other = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=api.url, headers=other, timeout=30) as http:
        sent = await http.post("/v1/tasks", json={"capability": cap, "input": {"prompt": "x"}})
        assert sent.status_code == 422 and repr(cap) in sent.text, sent.text
        assert (await http.get(f"/v1/capabilities/{cap}")).status_code == 404
        names = [c["name"] for c in (await http.get("/v1/capabilities")).json()["items"]]
        assert cap not in names and "test-execution" in names  # the built-ins are everyone's


async def test_idempotency_key_finds_the_assigned_task_and_refuses_another_capability(
    api: Api, worker: WorkerGroup, fake_llm: FakeLLMServer
) -> None:
    cap, other = capability(), capability()
    await capable_agent(api, "idem", [cap, other])
    key = {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}
    model = scripted(fake_llm, DONE)
    body = {"capability": cap, "complexity": 4, "input": {"prompt": "go"}, "model": model}
    first = await api.http.post("/v1/tasks", json=body, headers=key)
    assert first.status_code == 201, first.text
    again = await api.http.post("/v1/tasks", json=body, headers=key)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"], again.text
    for change in ({"capability": other}, {"complexity": 5}):
        clash = await api.http.post("/v1/tasks", json=body | change, headers=key)
        assert clash.status_code == 409, clash.text
    assert (await wait_task(api, first.json()["id"]))["status"] == "succeeded"
    done = await by_capability(api, fake_llm, other, DONE)
    assert (await wait_task(api, done["id"]))["status"] == "succeeded"
