"""Scheduled events: a Temporal Schedule whose run publishes an event that starts an agent."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from cape.settings import Settings
from tests.conftest import Api
from tests.e2e.test_api_errors import assert_fields
from tests.events.support import own_team, routed, triggered_agent


async def test_a_schedule_run_publishes_its_event_and_starts_the_agent(
    api: Api, settings: Settings, worker: Worker, client: Client
) -> None:
    async with own_team(api, settings) as http:
        agent = await triggered_agent(
            http, {"event": "report.due", "input": {"prompt": "report for {{ event.data.team }}"}}
        )
        made = await http.post(
            "/v1/events/schedules",
            json={"type": "report.due", "data": {"team": "ops"}, "priority": "high",
                  "interval_seconds": 3600, "paused": True},
        )  # fmt: skip
        assert made.status_code == 201, made.text
        schedule = made.json()
        try:
            assert schedule["type"] == "report.due" and schedule["paused"]
            await client.get_schedule_handle(schedule["id"]).trigger()  # one run now
            async with asyncio.timeout(60):
                while True:
                    items = (await http.get("/v1/events", params={"type": "report.due"})).json()
                    if items["items"]:
                        break
                    await asyncio.sleep(0.2)
            event: dict[str, Any] = await routed(http, items["items"][0]["id"])
            assert event["id"].startswith(f"sev-{schedule['id']}")
            assert event["source"] == f"schedule:{schedule['id']}"
            assert event["priority"] == "high" and event["status"] == "routed"
            [route] = event["routes"]
            assert route["agent"] == agent and route["input"] == {"prompt": "report for ops"}
            got = await http.get(f"/v1/events/schedules/{schedule['id']}")
            assert got.status_code == 200 and got.json()["runs"] >= 1
            # Agent-task schedules do not list it, and reading it there is a 404.
            assert schedule["id"] not in [
                s["id"] for s in (await http.get("/v1/schedules")).json()["items"]
            ]
            bad = await http.post("/v1/events/schedules", json={"type": "x y", "cron": "nope"})
            assert_fields(bad, "body.type")
        finally:
            gone = await http.delete(f"/v1/events/schedules/{schedule['id']}")
        assert gone.status_code == 204
