"""Instances over real HTTP with the real worker: events in, tasks out, in order.

See docs/instances.md.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from itertools import pairwise
from typing import Any

from temporalio.worker import Worker

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Script, Turn
from tests.conftest import Api
from tests.events.support import own_team, publish, routed
from tests.instances.support import agent, answering_model, history, instance, show, until
from tests.locks.support import until as locks_until


async def test_events_run_in_order_pause_keeps_the_inbox_and_stop_ends_it(
    api: Api, settings: Settings, worker: Worker, fake_llm: FakeLLMServer
) -> None:
    async with own_team(api, settings) as http:
        name = await agent(http, answering_model(fake_llm))
        made = await instance(
            http, name, subscriptions=[
                {"event": "deploy.*", "filter": {"env": "prod"},
                 "input": {"prompt": "deploy {{ event.data.n }}"}},
            ],
        )  # fmt: skip
        assert made["state"] == "idle" and made["max_concurrent"] == 1
        paused = await http.post(f"/v1/instances/{made['id']}/pause")
        assert paused.status_code == 200 and paused.json()["state"] == "paused", paused.text

        events = [
            await publish(http, "deploy.done", data={"n": n, "env": "prod"}) for n in (1, 2, 3)
        ]
        dev = await routed(http, (await publish(http, "deploy.done", data={"env": "dev"}))["id"])
        assert dev["status"] == "unhandled" and dev["routes"] == []  # the filter: not delivered
        first = await routed(http, events[0]["id"])
        assert first["status"] == "routed"
        [route] = first["routes"]
        assert route["agent"] == f"instance:{made['name']}" and route["status"] == "delivered"
        view = await until(http, made["id"], lambda v: v["inbox_length"] == 3)
        assert view["state"] == "paused" and view["current_tasks"] == []
        assert view["counters"]["received"] == 3 and view["counters"]["started"] == 0

        resumed = await http.post(f"/v1/instances/{made['id']}/resume")
        assert resumed.status_code == 200, resumed.text
        done = await until(http, made["id"], lambda v: v["counters"]["succeeded"] == 3)
        assert done["state"] == "idle" and done["inbox_length"] == 0
        assert done["current_version"] == "1.0.0"

        handled = await history(http, made["id"])  # read in pages of 2
        assert [h["event_id"] for h in handled] == [e["id"] for e in events]
        assert {h["outcome"] for h in handled} == {"succeeded"}
        tasks = [(await http.get(f"/v1/tasks/{h['task_id']}")).json() for h in handled]
        assert [t["input"] for t in tasks] == [{"prompt": f"deploy {n}"} for n in (1, 2, 3)]
        assert all(t["event_id"] == e["id"] and t["relation"] == "instance"
                   for t, e in zip(tasks, events, strict=True))  # fmt: skip
        # One at a time (max_concurrent 1): each task started after the one before ended.
        for before, after in pairwise(tasks):
            assert datetime.fromisoformat(after["created_at"]) >= datetime.fromisoformat(
                before["finished_at"]
            )

        listed = (await http.get("/v1/instances")).json()
        assert [i["id"] for i in listed["items"]] == [made["id"]]
        runtime = (await http.get("/v1/runtime")).json()
        assert runtime["instances"]["idle"] == 1 and runtime["workers"]["workflow_pollers"] >= 1

        stopped = await http.post(f"/v1/instances/{made['id']}/stop")
        assert stopped.status_code == 200 and stopped.json()["state"] == "stopped", stopped.text
        await until(http, made["id"], lambda v: v["state"] == "stopped")

        async def saved_stopped() -> bool:  # the routing reads the row, saved a moment later
            listed = await http.get("/v1/instances", params={"state": "stopped"})
            return made["id"] in [i["id"] for i in listed.json()["items"]]

        await locks_until(saved_stopped)
        again = await http.post(f"/v1/instances/{made['id']}/stop")
        assert again.status_code == 200, again.text
        assert (await http.post(f"/v1/instances/{made['id']}/resume")).status_code == 409
        late = await routed(http, (await publish(http, "deploy.done", data={"env": "prod"}))["id"])
        assert late["status"] == "unhandled"  # a stopped instance receives nothing


async def test_failures_in_a_row_put_the_instance_in_error_and_recover_runs_the_inbox(
    api: Api, settings: Settings, worker: Worker, fake_llm: FakeLLMServer
) -> None:
    async with own_team(api, settings) as http:
        missing = f"gone-{settings.task_queue}"
        name = await agent(http, f"script:{missing}")  # no such script yet: every task fails
        made = await instance(http, name, failure_limit=2)
        events = [await publish(http, "deploy.x", data={"n": n}) for n in (1, 2, 3)]
        for event in events:
            await routed(http, event["id"])
        broken = await until(http, made["id"], lambda v: v["state"] == "error")
        assert broken["counters"]["failed"] == 2 and broken["counters"]["consecutive_failures"] == 2
        assert "2 tasks failed in a row" in broken["last_error"]
        assert "does not exist" in broken["last_error"]  # the last task's own error
        assert broken["inbox_length"] == 1  # the third event waits
        assert (await http.post(f"/v1/instances/{made['id']}/resume")).json()["state"] == "error"

        fake_llm.add_script(Script(name=missing, turns=[Turn(content="fine now")]))
        recovered = await http.post(f"/v1/instances/{made['id']}/recover")
        assert recovered.status_code == 200, recovered.text
        done = await until(http, made["id"], lambda v: v["counters"]["succeeded"] == 1)
        assert done["state"] == "idle" and done["last_error"] is None
        assert done["counters"]["consecutive_failures"] == 0
        outcomes = [h["outcome"] for h in await history(http, made["id"])]
        assert outcomes == ["failed", "failed", "succeeded"]
        refused = await http.post(f"/v1/instances/{made['id']}/recover")
        assert refused.status_code == 409 and "not in error" in refused.text


async def test_each_task_resolves_the_range_again_and_a_yanked_version_is_skipped_or_an_error(
    api: Api, settings: Settings, worker: Worker, fake_llm: FakeLLMServer
) -> None:
    async with own_team(api, settings) as http:
        model = answering_model(fake_llm)
        name = await agent(http, model)
        made = await instance(http, name, agent_version="^1")

        def settled(n: int) -> Callable[[dict[str, Any]], bool]:
            def check(v: dict[str, Any]) -> bool:
                idle = not v["current_tasks"] and v["inbox_length"] == 0
                return (v["counters"]["received"] == n and idle) or v["state"] == "error"

            return check

        async def run(n: int) -> dict[str, Any]:
            await routed(http, (await publish(http, "deploy.v", data={"n": n}))["id"])
            return await until(http, made["id"], settled(n))

        assert (await run(1))["current_version"] == "1.0.0"
        await agent(http, model, version="1.1.0", name=name)
        assert (await run(2))["current_version"] == "1.1.0"  # the newer version, next task
        yank = f"/v1/agents/{name}/versions/1.1.0/yank"
        assert (await http.post(yank, json={"reason": "bad build"})).status_code == 200
        assert (await run(3))["current_version"] == "1.0.0"  # the next allowed version
        yank = f"/v1/agents/{name}/versions/1.0.0/yank"
        assert (await http.post(yank, json={"reason": "also bad"})).status_code == 200
        broken = await run(4)
        assert broken["state"] == "error" and broken["inbox_length"] == 1
        assert "no allowed version" in broken["last_error"] and "also bad" in broken["last_error"]
        versions = [h["agent_version"] for h in await history(http, made["id"])]
        assert versions == ["1.0.0", "1.1.0", "1.0.0"]


async def test_invalid_instances_name_the_field_and_names_are_unique_per_team(
    api: Api, settings: Settings, worker: Worker, fake_llm: FakeLLMServer
) -> None:
    async with own_team(api, settings) as http:
        name = await agent(http, answering_model(fake_llm))
        made = await instance(http, name)
        twice = await http.post("/v1/instances", json={
            "name": made["name"], "agent": name, "subscriptions": [{"event": "a"}]})  # fmt: skip
        assert twice.status_code == 409, twice.text
        bad = await http.post("/v1/instances", json={
            "name": "Bad Name", "agent": name, "subscriptions": []})  # fmt: skip
        assert bad.status_code == 422
        fields = {d["field"] for d in bad.json()["error"]["details"]}
        assert {"body.name", "body.subscriptions"} <= fields, bad.text
        big = await http.post("/v1/instances", json={
            "name": "big", "agent": name, "subscriptions": [{"event": "a"}],
            "max_concurrent": settings.instance_max_concurrent + 1})  # fmt: skip
        assert big.status_code == 422 and "body.max_concurrent" in big.text
        unknown = await http.post("/v1/instances", json={
            "name": "nope", "agent": "no-such-agent", "subscriptions": [{"event": "a"}],
        })  # fmt: skip
        assert unknown.status_code == 404
        assert (await show(http, made["id"]))["state"] == "idle"
        assert (await http.get("/v1/instances/inst_nothing")).status_code == 404


async def test_stop_with_cancel_cancels_the_running_tasks_and_ends_the_instance(
    api: Api, settings: Settings, worker: Worker, fake_llm: FakeLLMServer
) -> None:
    async with own_team(api, settings) as http:
        slow = f"slow-{settings.task_queue}"
        fake_llm.add_script(Script(name=slow, turns=[Turn(content="late", delay_seconds=30)]))
        made = await instance(http, await agent(http, f"script:{slow}"), max_concurrent=2)
        for n in (1, 2):
            await routed(http, (await publish(http, "deploy.c", data={"n": n}))["id"])
        busy = await until(
            http,
            made["id"],
            lambda v: [t["agent_version"] for t in v["current_tasks"]] == ["1.0.0"] * 2,
        )
        assert busy["state"] == "running"
        stopped = await http.post(f"/v1/instances/{made['id']}/stop", params={"cancel": "true"})
        assert stopped.status_code == 200 and stopped.json()["state"] == "stopped", stopped.text
        done = await until(http, made["id"], lambda v: v["counters"]["canceled"] == 2, limit=25)
        assert done["state"] == "stopped" and done["current_tasks"] == []
        handled = await history(http, made["id"])
        assert [h["outcome"] for h in handled] == ["canceled", "canceled"]
        for entry in handled:
            task = (await http.get(f"/v1/tasks/{entry['task_id']}")).json()
            assert task["status"] == "canceled", task


async def test_the_task_input_is_the_defaults_then_the_mapping(
    api: Api, settings: Settings, worker: Worker, fake_llm: FakeLLMServer
) -> None:
    async with own_team(api, settings) as http:
        name = await agent(http, answering_model(fake_llm))
        fixed = await instance(
            http, name, subscriptions=[{"event": "in.put"}], input={"prompt": "check it"}
        )
        bare = await instance(http, name, subscriptions=[{"event": "in.*"}])
        await routed(http, (await publish(http, "in.put", data={"n": 1}))["id"])
        inputs = []
        for made in (fixed, bare):
            await until(http, made["id"], lambda v: v["counters"]["succeeded"] == 1)
            [entry] = await history(http, made["id"])
            inputs.append((await http.get(f"/v1/tasks/{entry['task_id']}")).json()["input"])
        assert inputs == [{"prompt": "check it"}, {"prompt": 'Event in.put: {"n": 1}'}]
