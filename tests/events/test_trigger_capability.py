"""Triggers naming a capability: the event starts a task on the agent the assigner chooses.

One team: two agents declare `triage` over split complexity ranges, a third owns the triggers.
Then every candidate busy: the event's task waits for the first that frees up.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from temporalio.worker import Worker

from cape.errors import InvalidInput
from cape.events.ids import event_task_id
from cape.registry.spec import parse_spec
from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer
from tests.assign.support import DONE, by_capability, capability, capable_agent, scripted
from tests.conftest import Api
from tests.e2e.agent_support import spec, wait_status
from tests.e2e.tooling import events_of, wait_task
from tests.events.support import own_team, publish, routed, triggered_agent
from tests.locks.agent_support import approve, event


async def test_a_capability_trigger_starts_the_chosen_agent_or_fails_with_the_reason(
    api: Api, settings: Settings, worker: Worker
) -> None:
    async with own_team(api, settings) as http:
        low = spec(capabilities=["triage"], complexity={"min": 1, "max": 3})
        high = spec(capabilities=["triage"], complexity={"min": 4, "max": 10})
        ticket_only = {"type": "object", "required": ["ticket"],
                       "properties": {"ticket": {"type": "integer"}}}  # fmt: skip
        strict = spec(capabilities=["filing"], input_schema=ticket_only)
        for data in (low, high, strict):
            made = await http.post("/v1/agents", params={"publish": "true"}, json=data)
            assert made.status_code == 201, made.text
        mapping = {"prompt": "triage {{ event.data.id }}"}
        owner = await triggered_agent(
            http,
            {"event": "ticket.hard", "capability": "triage", "complexity": 7, "input": mapping},
            {"event": "ticket.easy", "capability": "triage", "complexity": 2, "input": mapping},
            {"event": "ticket.odd", "capability": "astrology", "input": mapping},
            {"event": "ticket.file", "capability": "filing", "input": mapping},
        )

        hard = await routed(http, (await publish(http, "ticket.hard", data={"id": 1}))["id"])
        assert hard["status"] == "routed", hard
        [route] = hard["routes"]
        assert route["agent"] == owner and route["status"] == "started", route
        assert f"assigned to {high['name']}" in route["reason"], route
        assert route["task_id"] == event_task_id(hard["id"], owner)  # keyed by the owner
        task = (await http.get(f"/v1/tasks/{route['task_id']}")).json()
        assert task["agent"] == high["name"] and task["input"] == {"prompt": "triage 1"}
        [assigned] = await events_of(settings, route["task_id"], "task-assigned")
        assert assigned.data["agent"] == high["name"] and assigned.data["complexity"] == 7
        left_out = {c["agent"]: c["rank"] for c in assigned.data["candidates"]}
        assert left_out == {high["name"]: 1, low["name"]: None}  # complexity filters

        easy = await routed(http, (await publish(http, "ticket.easy", data={"id": 2}))["id"])
        [route] = easy["routes"]
        easy_task = (await http.get(f"/v1/tasks/{route['task_id']}")).json()
        assert easy_task["agent"] == low["name"], route

        odd = await routed(http, (await publish(http, "ticket.odd", data={"id": 3}))["id"])
        assert odd["status"] == "failed", odd
        [route] = odd["routes"]
        assert route["status"] == "failed" and route["task_id"] is None
        assert "astrology" in route["reason"] and "no candidate" in route["reason"], route

        filed = await routed(http, (await publish(http, "ticket.file", data={"id": 5}))["id"])
        [route] = filed["routes"]  # the chosen agent's input schema refuses the mapped input
        assert route["status"] == "failed" and route["task_id"] is None, route
        assert route["reason"].startswith(f"assigned to {strict['name']} 1.0.0: mapped input")

        url = f"/v1/agents/{owner}/versions/1.0.0/triggers/test"
        tried = await http.post(url, json={"event": {"type": "ticket.hard", "data": {"id": 4}}})
        assert tried.status_code == 200, tried.text
        [verdict] = tried.json()["results"]
        assert verdict["would_start"] and verdict["assigned_agent"] == high["name"], verdict
        assert {c["agent"] for c in verdict["candidates"]} == {low["name"], high["name"]}


@pytest.mark.parametrize(
    ("trigger", "words"),
    [
        ({"event": "x.y", "complexity": 3}, "goes with `capability`"),
        ({"event": "x.y", "capability": "qa", "complexity": 11}, "less than or equal to 10"),
        ({"event": "x.y", "capability": "qa", "complexity": 0}, "greater than or equal to 1"),
    ],
)
def test_a_trigger_complexity_needs_a_capability_and_a_range_of_1_to_10(
    trigger: dict[str, Any], words: str
) -> None:
    data = {"name": "trig-cap", "version": "1.0.0", "system_prompt": "x", "triggers": [trigger]}
    with pytest.raises(InvalidInput) as raised:
        parse_spec(data)
    found = raised.value.details
    assert [p["field"] for p in found] == ["spec.triggers.0.complexity"], found
    assert words in found[0]["message"], found
    bad_name = {**data, "triggers": [{"event": "x.y", "capability": "Not Valid"}]}
    with pytest.raises(InvalidInput) as raised:
        parse_spec(bad_name)
    assert [p["field"] for p in raised.value.details] == ["spec.triggers.0.capability"]


async def test_a_capability_trigger_with_every_candidate_busy_runs_on_the_first_that_frees_up(
    api: Api, settings: Settings, worker: Worker, fake_llm: FakeLLMServer
) -> None:
    cap = capability()
    best = await capable_agent(
        api, "best", [cap], max_concurrent=1, model={"name": scripted(fake_llm, DONE)}
    )
    other = await capable_agent(
        api, "next", [cap], max_concurrent=1, model={"name": scripted(fake_llm, DONE)}
    )
    first = await by_capability(api, fake_llm, cap)
    await wait_status(api, first["id"], "input_required")  # holds best's only slot
    second = await by_capability(api, fake_llm, cap)
    assert second["agent"] == other, second
    await wait_status(api, second["id"], "input_required")  # holds the other's
    kind = f"busy.{uuid.uuid4().hex[:8]}"
    await triggered_agent(api.http, {"event": kind, "capability": cap})

    routing = await routed(api.http, (await publish(api.http, kind))["id"])
    [route] = routing["routes"]
    assert route["status"] == "started" and "is busy" in route["reason"], route
    waiting = await event(settings, route["task_id"], "lock-waiting")
    assert waiting["resource"] == f"agent:{best}", waiting
    assert waiting["alternatives"] == [f"agent:{other}"], waiting  # as a task posted by capability

    await approve(api, second["id"])  # the other agent frees up first: the task moves there
    moved = await event(settings, route["task_id"], "task-reassigned")
    assert moved["to"] == {"agent": other, "agent_version": "1.0.0"}, moved
    await approve(api, first["id"])
    for task_id in (first["id"], second["id"], route["task_id"]):
        assert (await wait_task(api, task_id))["status"] == "succeeded"
