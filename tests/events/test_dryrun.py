"""The trigger dry-run: a draft's triggers tried on a given event and on logged ones."""

from __future__ import annotations

from temporalio.worker import Worker

from cape.settings import Settings
from tests.conftest import Api
from tests.e2e.agent_support import spec
from tests.events.support import own_team, publish, routed


async def test_dry_run_tries_a_drafts_triggers_and_starts_nothing(
    api: Api, settings: Settings, worker: Worker
) -> None:
    async with own_team(api, settings) as http:
        seen = await routed(http, (await publish(http, "pr.opened", data={"repo": "cape"}))["id"])
        assert seen["status"] == "unhandled"  # the draft below does not fire
        await publish(http, "other.thing")
        draft = spec(
            triggers=[
                {"event": "pr.*", "filter": {"repo": ["cape", "docs"]},
                 "input": {"prompt": "Review {{ event.data.repo }}"}},
            ]
        )  # fmt: skip
        made = await http.post("/v1/agents", json=draft)
        assert made.status_code == 201, made.text
        url = f"/v1/agents/{draft['name']}/versions/1.0.0/triggers/test"

        given = await http.post(
            url, json={"event": {"type": "pr.merged", "data": {"repo": "docs"}}}
        )
        assert given.status_code == 200, given.text
        [verdict] = given.json()["results"]
        assert verdict["would_start"] and verdict["input"] == {"prompt": "Review docs"}

        other = await http.post(url, json={"event": {"type": "pr.merged", "data": {"repo": "x"}}})
        assert other.json()["results"][0]["status"] == "filtered"

        logged = await http.post(url, json={"last": 10})
        results = {r["type"]: r for r in logged.json()["results"]}
        assert (
            results["pr.opened"]["would_start"] and results["pr.opened"]["event_id"] == seen["id"]
        )
        assert results["other.thing"]["status"] == "no_match"
        tasks = (await http.get("/v1/tasks")).json()["items"]
        assert tasks == []  # nothing started

        mapping = {"prompt": "{{ event.data.n }}"}
        broken = spec(
            name=draft["name"], version="1.1.0", triggers=[{"event": "pr.*", "input": mapping}]
        )
        added = await http.post(f"/v1/agents/{draft['name']}/versions", json=broken)
        assert added.status_code == 201, added.text
        url = f"/v1/agents/{draft['name']}/versions/1.1.0/triggers/test"
        bad = await http.post(url, json={"event": {"type": "pr.x", "data": {"n": 1}}})
        [verdict] = bad.json()["results"]
        assert verdict["status"] == "failed" and not verdict["would_start"]
        assert [p["field"] for p in verdict["problems"]] == ["input.prompt"]
        missing = await http.post(
            f"/v1/agents/{draft['name']}/versions/9.9.9/triggers/test", json={}
        )
        assert missing.status_code == 404
