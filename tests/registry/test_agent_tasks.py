"""Tasks on registry agents: version pinning, ranges, statuses, input schemas and ceilings.

No worker is needed: a task without one stays queued, and its row shows what was pinned.
"""

from __future__ import annotations

from typing import Any

import httpx

from cape.settings import Settings
from tests.conftest import Api
from tests.e2e.test_api_errors import assert_error, assert_fields
from tests.harness import stored
from tests.registry.conftest import publish, spec, unique


async def start(http: httpx.AsyncClient, agent: str, **extra: Any) -> httpx.Response:
    body = {"agent": agent, "input": {"prompt": "hello"}, "model": "demo", **extra}
    return await http.post("/v1/tasks", json=body)


async def started(http: httpx.AsyncClient, agent: str, **extra: Any) -> dict[str, Any]:
    response = await start(http, agent, **extra)
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


async def test_a_range_pins_the_highest_matching_version(api: Api, settings: Settings) -> None:
    name = unique()
    await publish(api.http, name, "1.2.0", "1.3.0", "1.10.1", "2.0.0")
    draft = await api.http.post(f"/v1/agents/{name}/versions", json=spec(name, "1.11.0"))
    assert draft.status_code == 201  # drafts are never picked by a range
    task = await started(api.http, name, agent_version="^1.2")
    assert task["agent_version"] == "1.10.1"
    fetched = (await api.http.get(f"/v1/tasks/{task['id']}")).json()
    assert (fetched["agent"], fetched["agent_version"]) == (name, "1.10.1")
    _, events = await stored(settings, task["id"])
    assert events[0].data["agent_version"] == "1.10.1"

    assert (await started(api.http, name, agent_version="~1.3"))["agent_version"] == "1.3.0"
    assert (await started(api.http, name, agent_version="1.2.0"))["agent_version"] == "1.2.0"
    assert (await started(api.http, name))["agent_version"] == "2.0.0"  # the newest published
    assert (await started(api.http, name, agent_version="latest"))["agent_version"] == "2.0.0"
    pinned = await api.http.put(f"/v1/agents/{name}/default", json={"version": "1.3.0"})
    assert pinned.status_code == 200
    assert (await started(api.http, name))["agent_version"] == "1.3.0"

    details = assert_error(await start(api.http, name, agent_version="^3"), 404, "not_found")
    # Every version the caller could start by naming it (the owner's drafts too), in order.
    assert details["available"] == ["1.2.0", "1.3.0", "1.10.1", "1.11.0", "2.0.0"]
    assert_fields(await start(api.http, name, agent_version="1.2.3 - 2"), "body.agent_version")
    missing = await start(api.http, name, agent_version="9.9.9")
    assert_error(missing, 404, "not_found", message="1.10.1")  # lists what is available


async def test_yanked_refused_deprecated_warned(api: Api, settings: Settings) -> None:
    name = unique()
    await publish(api.http, name, "1.0.0", "1.1.0", "2.0.0")
    base = f"/v1/agents/{name}/versions"
    await api.http.post(f"{base}/1.0.0/yank", json={"reason": "leaks secrets"})
    await api.http.post(f"{base}/1.1.0/deprecate", json={"reason": "slow", "successor": "2.0.0"})

    refused = await start(api.http, name, agent_version="1.0.0")
    details = assert_error(refused, 409, "conflict", message="leaks secrets")
    assert details == {"agent": name, "version": "1.0.0", "reason": "leaks secrets"}
    assert "1.0.0" in refused.json()["error"]["message"]

    task = await started(api.http, name, agent_version="1.1.0")
    assert task["agent_version"] == "1.1.0"
    assert task["warnings"] == [
        f"agent {name!r} version 1.1.0 is deprecated: slow; use version 2.0.0 instead"
    ]
    _, events = await stored(settings, task["id"])
    assert events[0].data["warnings"] == task["warnings"]
    # A range prefers published versions; a deprecated one only when nothing else matches.
    assert (await started(api.http, name, agent_version="<3"))["agent_version"] == "2.0.0"
    only = await started(api.http, name, agent_version="^1.0")
    assert (only["agent_version"], len(only["warnings"])) == ("1.1.0", 1)
    assert (await started(api.http, name))["warnings"] == []


async def test_drafts_start_only_for_their_team_by_exact_version(
    api: Api, other: httpx.AsyncClient
) -> None:
    name = unique()
    assert (await api.http.post("/v1/agents", json=spec(name, "0.1.0"))).status_code == 201
    assert_error(await start(api.http, name), 404, "not_found", message="no published version")
    mine = await started(api.http, name, agent_version="0.1.0")
    assert mine["agent_version"] == "0.1.0" and "draft" in mine["warnings"][0]
    assert_error(await start(api.http, name, agent_version="^0.1"), 404, "not_found")
    theirs = await start(other, name, agent_version="0.1.0")
    assert_error(theirs, 404, "not_found", message=repr(name))
    # Published or not, another team's agent stays invisible to it.
    await publish(api.http, name, "0.2.0")
    assert_error(await start(other, name), 404, "not_found", message=repr(name))


async def test_input_is_checked_against_the_pinned_versions_schema(api: Api) -> None:
    name = unique()
    await publish(api.http, name, "1.0.0")
    topic_schema = {
        "type": "object",
        "required": ["prompt", "topic"],
        "properties": {"prompt": {"type": "string"}, "topic": {"enum": ["a", "b"]}},
    }
    await publish(api.http, name, "2.0.0", input_schema=topic_schema)
    assert (await started(api.http, name, agent_version="1.0.0"))["agent_version"] == "1.0.0"
    assert_fields(await start(api.http, name), "input.topic")
    wrong = await api.http.post(
        "/v1/tasks", json={"agent": name, "input": {"prompt": "x", "topic": "c"}}
    )
    assert_fields(wrong, "input.topic")
    ok = await api.http.post(
        "/v1/tasks", json={"agent": name, "input": {"prompt": "x", "topic": "a"}}
    )
    assert ok.status_code == 201, ok.text


async def test_budgets_stay_within_the_agents_ceilings(api: Api, settings: Settings) -> None:
    name = unique()
    limits = {"max_steps": 5, "max_tokens": 1000, "max_cost": 0.5, "timeout_seconds": 60}
    await publish(api.http, name, "1.0.0", limits=limits)
    over = await start(api.http, name, max_tokens=1001, max_cost=0.51, max_steps=6)
    details = assert_fields(over, "body.max_tokens", "body.max_cost", "body.max_steps")
    assert "1000" in next(d["message"] for d in details if d["field"] == "body.max_tokens")
    # Input and budget problems come in one answer.
    both = await api.http.post("/v1/tasks", json={"agent": name, "input": {}, "max_tokens": 5000})
    assert_fields(both, "input.prompt", "body.max_tokens")

    defaults = await started(api.http, name)
    assert defaults["limits"] == limits and defaults["max_steps"] == 5
    asked = await started(api.http, name, max_tokens=10, max_cost=0.1, max_steps=2)
    assert asked["limits"] == {**limits, "max_steps": 2, "max_tokens": 10, "max_cost": 0.1}
    fetched = (await api.http.get(f"/v1/tasks/{asked['id']}")).json()
    assert fetched["limits"] == asked["limits"] and fetched["max_steps"] == 2
    # Without ceilings only the operator's max_steps default applies.
    free = unique()
    await publish(api.http, free, "1.0.0", limits={"max_steps": 10_000})
    task = await started(api.http, free)
    assert task["limits"] == {"max_steps": settings.max_steps, "max_tokens": None,
                              "max_cost": None, "timeout_seconds": None}  # fmt: skip
    assert (await started(api.http, free, max_steps=10_000))["max_steps"] == 10_000
    assert_fields(await start(api.http, free, max_steps=10_001), "body.max_steps")


async def test_an_idempotent_retry_keeps_the_pinned_version(api: Api) -> None:
    name = unique()
    await publish(api.http, name, "1.0.0")
    key = {"Idempotency-Key": unique("key")}
    body = {"agent": name, "agent_version": "^1", "input": {"prompt": "once"}, "model": "demo"}
    first = await api.http.post("/v1/tasks", json=body, headers=key)
    assert first.status_code == 201, first.text
    await publish(api.http, name, "1.1.0")
    # Same request, and the pinned 1.0.0 still satisfies ^1: the same task.
    again = await api.http.post("/v1/tasks", json=body, headers=key)
    assert again.status_code == 200, again.text
    assert (again.json()["id"], again.json()["agent_version"]) == (first.json()["id"], "1.0.0")
    other = await api.http.post("/v1/tasks", json={**body, "agent_version": "1.1.0"}, headers=key)
    assert_error(other, 409, "conflict", message="Idempotency-Key")
    budget = await api.http.post("/v1/tasks", json={**body, "max_tokens": 5}, headers=key)
    assert_error(budget, 409, "conflict", message="Idempotency-Key")
