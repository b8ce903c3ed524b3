"""The built-in specialist and QA agents in the registry API: listed, read-only, triggered, 422s."""

from __future__ import annotations

from typing import Any

import pytest

from cape.registry.spec import AgentSpec
from tests.agents.builtin_examples import (
    BAD_INPUTS,
    CATEGORIES,
    DOMAINS,
    SPECIALIST,
    VERSIONS,
    specialist_input,
)
from tests.conftest import Api


async def _version(api: Api, name: str) -> dict[str, Any]:
    got = await api.http.get(f"/v1/agents/{name}/versions/{VERSIONS[name]}")
    assert got.status_code == 200, got.text
    return dict(got.json())


async def test_each_builtin_is_listed_by_its_category_as_a_published_builtin(api: Api) -> None:
    for category in sorted(set(CATEGORIES.values())):
        listed = await api.http.get("/v1/agents", params={"category": category, "limit": 100})
        assert listed.status_code == 200, listed.text
        items = {item["name"]: item for item in listed.json()["items"]}
        wanted = {name for name, c in CATEGORIES.items() if c == category}
        assert wanted <= set(items), (category, sorted(items))
        assert all(item["category"] == category for item in items.values())
        for name in wanted:
            item = items[name]
            assert item["builtin"] is True and item["owner"] == "system", item
            version = VERSIONS[name]
            assert item["default_version"] == version and item["latest"] == version, item
    version = await _version(api, "qa-manager")
    assert version["status"] == "published"
    assert {"name": "send_email", "approval": True} in version["spec"]["tools"]


@pytest.mark.parametrize("name", sorted(CATEGORIES))
async def test_a_builtin_is_read_only(api: Api, name: str) -> None:
    spec = (await _version(api, name))["spec"]
    version = VERSIONS[name]
    attempts = [
        api.http.put(f"/v1/agents/{name}/versions/{version}", json=spec),
        api.http.post(f"/v1/agents/{name}/versions", json={**spec, "version": "1.9.1"}),
        api.http.post(f"/v1/agents/{name}/versions/{version}/deprecate", json={"reason": "mine"}),
        api.http.put(f"/v1/agents/{name}/default", json={"version": version}),
        api.http.post("/v1/agents", json={**spec, "version": "2.0.0"}),
    ]
    for attempt in attempts:
        answer = await attempt
        assert answer.status_code == 403, (answer.request.method, answer.request.url, answer.text)
        assert answer.json()["error"]["code"] == "forbidden"
    assert (await _version(api, name))["spec"] == spec


async def test_deployment_completed_starts_qa_manager_and_explorer_with_their_filters(
    api: Api,
) -> None:
    got = await api.http.get("/v1/agents/triggers/deployment.completed")
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["event"] == "deployment.completed"
    items = {item["name"]: item for item in body["items"]}
    assert {"qa-manager", "explorer"} <= set(items) and "executor" not in items
    unassigned = {"capability": None, "complexity": None}  # the trigger's own agent runs it
    assert items["qa-manager"]["triggers"] == [
        {"event": "deployment.completed", "filter": {"environment": "staging"}, **unassigned}
    ]
    assert items["explorer"]["triggers"] == [
        {
            "event": "deployment.completed",
            "filter": {"environment": "staging", "ui_changed": True},
            **unassigned,
        }
    ]
    assert all(items[n]["version"] == VERSIONS[n] and items[n]["owner"] == "system" for n in items)


@pytest.mark.parametrize(
    ("event", "agent"),
    [
        ("schedule.qa-nightly", "qa-manager"),
        ("qa.explore-requested", "explorer"),
        ("qa.tests-requested", "executor"),
        ("pull_request.opened", "executor"),
    ],
)
async def test_each_qa_event_starts_its_agent(api: Api, event: str, agent: str) -> None:
    got = await api.http.get(f"/v1/agents/triggers/{event}")
    assert got.status_code == 200, got.text
    assert agent in [item["name"] for item in got.json()["items"]]
    listed = await api.http.get("/v1/agents", params={"trigger": event, "category": "qa"})
    assert agent in [item["name"] for item in listed.json()["items"]]


@pytest.mark.parametrize(("agent", "data", "field"), BAD_INPUTS)
async def test_invalid_input_is_a_422_naming_the_field(
    api: Api, agent: str, data: dict[str, Any], field: str
) -> None:
    created = await api.http.post("/v1/tasks", json={"agent": agent, "input": data})
    assert created.status_code == 422, created.text
    error = created.json()["error"]
    assert error["code"] == "invalid_input"
    assert field in [d["field"] for d in error["details"]], error
    assert field in error["message"]


async def test_the_stored_specialist_renders_only_the_chosen_domain(api: Api) -> None:
    spec = AgentSpec.model_validate((await _version(api, SPECIALIST))["spec"])
    domains = spec.config["domains"]
    for domain in DOMAINS:
        prompt = spec.render_prompt(specialist_input(domain))
        assert all(step in prompt for step in domains[domain]["playbook"]), domain
        others = set(DOMAINS) - {domain}
        assert not any(step in prompt for o in others for step in domains[o]["playbook"])
    schemas = await api.http.get(f"/v1/agents/{SPECIALIST}/versions/{VERSIONS[SPECIALIST]}/schemas")
    assert schemas.status_code == 200, schemas.text
    assert schemas.json()["input_schema"]["properties"]["domain"]["enum"] == list(DOMAINS)
    assert schemas.json()["output_schema"]["required"] == [
        "domain", "playbook_steps", "insights", "confidence", "resources",
    ]  # fmt: skip
