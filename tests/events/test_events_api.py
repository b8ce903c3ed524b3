"""Events over real HTTP, routed by the real worker on the dev server (docs/events.md)."""

from __future__ import annotations

import asyncio
import uuid

from temporalio.client import Client
from temporalio.worker import Worker

from api.events.launch import start_routing
from api.events.service import resume_pending
from cape.db.engine import create_engine, session_factory
from cape.db.event_models import Event
from cape.db.models import utcnow
from cape.events.ids import new_event_id
from cape.settings import Settings
from tests.conftest import Api
from tests.e2e.agent_support import spec as spec_with
from tests.e2e.test_api_errors import assert_fields
from tests.events.support import own_team, publish, routed, triggered_agent


async def test_event_starts_the_matching_agents_task_and_unhandled_is_listed(
    api: Api, settings: Settings, worker: Worker
) -> None:
    async with own_team(api, settings) as http:
        agent = await triggered_agent(
            http,
            {
                "event": "build.deployed",
                "filter": {"env": "prod"},
                "input": {"prompt": "Deployed {{ event.data.service }} to {{ event.data.env }}"},
                "priority": "high",
            },
        )
        event = await publish(http, "build.deployed", data={"service": "web", "env": "prod"})
        assert event["status"] == "pending" and not event["duplicate"]
        done = await routed(http, event["id"])
        assert done["status"] == "routed", done
        [route] = done["routes"]
        assert route["agent"] == agent and route["status"] == "started"
        assert route["priority"] == "high"  # the trigger's override
        assert route["input"] == {"prompt": "Deployed web to prod"}
        task = (await http.get(f"/v1/tasks/{route['task_id']}")).json()
        assert task["event_id"] == event["id"]
        assert task["input"] == {"prompt": "Deployed web to prod"}
        assert task["agent"] == agent

        nobody = await routed(http, (await publish(http, "nobody.listens"))["id"])
        assert nobody["status"] == "unhandled" and nobody["routes"] == []
        assert "no agent" in nobody["reason"]
        dev = await publish(http, "build.deployed", data={"service": "web", "env": "dev"})
        filtered = await routed(http, dev["id"])
        assert filtered["status"] == "filtered"
        assert filtered["routes"][0]["status"] == "filtered"
        missing = await routed(http, (await publish(http, "build.deployed", data={}))["id"])
        assert missing["status"] == "filtered"  # a filter on a missing field: no match

        listed = (await http.get("/v1/events", params={"status": "unhandled"})).json()
        assert [e["id"] for e in listed["items"]] == [nobody["id"]]
        page = (await http.get("/v1/events", params={"limit": 2})).json()
        rest = (await http.get("/v1/events", params={"cursor": page["next_cursor"]})).json()
        assert len(page["items"]) == 2 and len(rest["items"]) == 2
        stats = {s["type"]: s for s in (await http.get("/v1/events/stats")).json()["types"]}
        assert stats["build.deployed"]["published"] == 3
        assert stats["build.deployed"]["routed"] == 1 and stats["build.deployed"]["tasks"] == 1
        assert stats["build.deployed"]["filtered"] == 2
        assert stats["nobody.listens"]["unhandled"] == 1


async def test_bad_mapping_fails_the_route_and_yanked_agents_do_not_fire(
    api: Api, settings: Settings, worker: Worker
) -> None:
    async with own_team(api, settings) as http:
        typed = await triggered_agent(
            http, {"event": "alert.*", "input": {"prompt": "{{ event.data.count }}"}}
        )
        undefined = await triggered_agent(
            http, {"event": "alert.disk", "input": {"prompt": "{{ event.data.nothing.deeper }}"}}
        )
        event = await routed(http, (await publish(http, "alert.disk", data={"count": 3}))["id"])
        assert event["status"] == "failed"
        routes = {r["agent"]: r for r in event["routes"]}
        assert routes[typed]["status"] == "failed" and routes[typed]["task_id"] is None
        assert "input.prompt" in routes[typed]["reason"]
        assert routes[typed]["input"] == {"prompt": 3}  # the expression kept its type
        assert routes[undefined]["status"] == "failed"
        assert "input.prompt" in routes[undefined]["reason"]
        assert typed in event["reason"] and undefined in event["reason"]

        yanked = await triggered_agent(http, {"event": "deploy.yanked"})
        gone = await http.post(f"/v1/agents/{yanked}/versions/1.0.0/yank", json={"reason": "x"})
        assert gone.status_code == 200, gone.text
        event = await routed(http, (await publish(http, "deploy.yanked"))["id"])
        assert event["status"] == "unhandled" and event["routes"] == []


async def test_one_dedupe_key_published_twenty_times_at_once_is_one_event_and_one_task(
    api: Api, settings: Settings, worker: Worker
) -> None:
    async with own_team(api, settings) as http:
        await triggered_agent(http, {"event": "order.paid"})
        key = uuid.uuid4().hex
        answers = await asyncio.gather(
            *(
                http.post("/v1/events", json={"type": "order.paid", "dedupe_key": key})
                for _ in range(20)
            )
        )
        codes = sorted(a.status_code for a in answers)
        assert codes == [200] * 19 + [202], [a.text for a in answers if a.status_code >= 300]
        assert len({a.json()["id"] for a in answers}) == 1
        assert sum(a.json()["duplicate"] for a in answers) == 19
        event = await routed(http, answers[0].json()["id"])
        assert event["status"] == "routed" and len(event["routes"]) == 1
        listed = (await http.get("/v1/events", params={"type": "order.paid"})).json()["items"]
        assert len(listed) == 1
        tasks = (await http.get("/v1/tasks", params={"limit": 100})).json()["items"]
        assert [t["event_id"] for t in tasks] == [event["id"]]


async def test_bad_events_are_refused_naming_the_field(api: Api, settings: Settings) -> None:
    async with own_team(api, settings) as http:
        big = await http.post(
            "/v1/events", json={"type": "big.one", "data": {"blob": "x" * 1_000_000}}
        )
        assert big.status_code == 413, big.text
        assert big.json()["error"]["code"] == "payload_too_large"
        bad = await http.post(
            "/v1/events",
            json={"type": "no spaces", "priority": "urgent", "data": [1], "extra": 1},
        )
        assert_fields(bad, "body.type", "body.priority", "body.data", "body.extra")
        assert (await http.get("/v1/events")).json()["items"] == []
        unknown = await http.get("/v1/events/evt_nothing")
        assert unknown.status_code == 404


async def test_a_stored_event_whose_start_failed_is_routed_by_the_reconciler(
    api: Api, settings: Settings, client: Client, worker: Worker
) -> None:
    """The event row is the outbox: a pending event gets its routing started later, once."""
    async with own_team(api, settings) as http:
        await triggered_agent(http, {"event": "lost.start"})
        team = (await http.get("/v1/teams")).json()[0]["id"]
        engine = create_engine(settings)
        sessions = session_factory(engine)
        stored = Event(
            id=new_event_id(), team_id=team, type="lost.start", data={}, priority="normal",
            published_by="x", occurred_at=utcnow(), status="pending", depth=0,
            published_at=utcnow().replace(year=2025),  # older than the grace period
        )  # fmt: skip
        async with sessions.begin() as session:
            session.add(stored)
        assert await resume_pending(sessions, client, settings) >= 1
        event = await routed(http, stored.id)
        assert event["status"] == "routed"
        # Once routed it is not pending any more; a second start is refused by Temporal too.
        await start_routing(client, settings, stored.id, "normal")
        again = (await http.get(f"/v1/events/{stored.id}")).json()
        assert [r["task_id"] for r in again["routes"]] == [r["task_id"] for r in event["routes"]]
        await engine.dispose()


async def test_debounced_trigger_starts_one_task_per_window(
    api: Api, settings: Settings, worker: Worker
) -> None:
    async with own_team(api, settings) as http:
        agent = await triggered_agent(http, {"event": "cache.flush", "debounce_seconds": 300})
        first = await routed(http, (await publish(http, "cache.flush"))["id"])
        assert first["status"] == "routed"
        second = await routed(http, (await publish(http, "cache.flush"))["id"])
        assert second["status"] == "filtered"
        [route] = second["routes"]
        assert route["agent"] == agent and route["status"] == "debounced"
        assert first["id"] in route["reason"] and route["task_id"] is None
        # A concurrency key is a template over the event (tests/events/test_concurrency_key.py).
        bad = [{"event": "x", "concurrency_key": "{{ event.data.host "}]
        assert_fields(
            await http.post("/v1/agents", json=spec_with(triggers=bad)),
            "spec.triggers.0.concurrency_key",
        )
        good = [{"event": "x", "concurrency_key": "{{ event.data.host }}"}]
        assert (await http.post("/v1/agents", json=spec_with(triggers=good))).status_code == 201
