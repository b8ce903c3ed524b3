"""The events pages over plain HTTP: another team sees nothing, viewers get no form, bad filters.

No worker runs here: the events stay pending, which is all the team checks need.
"""

from __future__ import annotations

import uuid

import httpx

from cape.db.engine import create_engine, session_factory
from cape.db.event_models import Event
from cape.db.models import utcnow
from cape.events.ids import new_event_id
from cape.settings import Settings
from tests.conftest import Api
from tests.events.support import own_team, publish
from tests.harness import new_api_key


async def _logged_in(api: Api, key: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=api.url, timeout=30)
    login = await client.post("/ui/login", data={"api_key": key})
    assert login.status_code == 303 and "cape_session" in client.cookies, login.text
    return client


async def _caused(settings: Settings, team: str, cause: str, kind: str) -> str:
    """Store an event as a task's `publish_event` would have: caused by `cause`, routed."""
    engine = create_engine(settings)
    try:
        row = Event(
            id=new_event_id(), team_id=team, type=kind, data={}, priority="normal",
            published_by="task", occurred_at=utcnow(), published_at=utcnow(), status="unhandled",
            causation_id=cause, causation_task_id="task_ecause", depth=1, source="task:task_ecause",
        )  # fmt: skip
        async with session_factory(engine).begin() as session:
            session.add(row)
        return row.id
    finally:
        await engine.dispose()


async def test_events_pages_are_the_teams_own(api: Api, settings: Settings) -> None:
    kind = f"iso.{uuid.uuid4().hex[:8]}"
    evil = '<script>alert("x")</script>'
    async with own_team(api, settings) as http:
        event = await publish(http, kind, data={"note": evil}, source="ui-test")
        key = http.headers["Authorization"].removeprefix("Bearer ")
        team = (await http.get("/v1/session")).json()["team_id"]
        viewer = f"uiev-viewer-{uuid.uuid4().hex[:6]}"
        member = {"user": viewer, "role": "viewer"}
        added = await http.post(f"/v1/teams/{team}/members", json=member)
        assert added.status_code == 201, added.text
        made = await http.post(
            "/v1/keys",
            json={"name": viewer, "user_id": added.json()["user_id"], "scopes": ["tasks:read"]},
        )
        assert made.status_code == 201, made.text
    child = await _caused(settings, team, event["id"], f"{kind}.next")
    orphan = await _caused(settings, team, "evt_retired", f"{kind}.orphan")

    owner = await _logged_in(api, key)
    try:
        listed = await owner.get("/ui/events")
        assert listed.status_code == 200 and event["id"] in listed.text and kind in listed.text
        assert 'id="publish-form"' in listed.text
        shown = await owner.get(f"/ui/events/{event['id']}")
        assert shown.status_code == 200 and "ui-test" in shown.text
        assert "<script>alert" not in shown.text and "&lt;script&gt;alert(" in shown.text
        rows = await owner.get(f"/ui/events/rows?type={kind}", headers={"HX-Request": "1"})
        assert rows.status_code == 200 and event["id"] in rows.text
        for query, field in (("status=sleeping", "status"), ("priority=urgent", "priority"),
                             ("since=1y", "time window")):  # fmt: skip
            wrong = await owner.get(f"/ui/events?{query}")
            assert wrong.status_code == 422 and f"unknown {field}" in wrong.text, wrong.text
        assert (await owner.get("/ui/events/evt_missing")).status_code == 404
        # The causation chain: the cause above, the events caused below, a deleted cause by id.
        assert f'href="/ui/events/{child}"' in shown.text  # under "Events its tasks published"
        chain = await owner.get(f"/ui/events/{child}")
        assert f'href="/ui/events/{event["id"]}"' in chain.text and "depth 1" in chain.text
        assert 'href="/ui/tasks/task_ecause"' in chain.text
        lost = await owner.get(f"/ui/events/{orphan}")
        assert "evt_retired" in lost.text and "no longer in the log" in lost.text
    finally:
        await owner.aclose()

    reader = await _logged_in(api, made.json()["secret"])
    try:
        seen = await reader.get("/ui/events")
        assert seen.status_code == 200 and event["id"] in seen.text
        assert "publish-form" not in seen.text  # a viewer may not publish: no form
    finally:
        await reader.aclose()

    other_key = await new_api_key(settings, owner=f"uiev2-{uuid.uuid4().hex[:6]}")
    other = await _logged_in(api, other_key)
    try:
        for path in ("/ui/events", "/ui/events/rows", f"/ui/events?type={kind}"):
            page = await other.get(path)
            assert page.status_code == 200, f"{path}: {page.status_code}"
            visible = page.text.replace(f'value="{kind}"', "").replace(f"type={kind}", "")
            assert event["id"] not in visible and kind not in visible, f"team 2 sees it on {path}"
        for hidden_id in (event["id"], child):
            hidden = await other.get(f"/ui/events/{hidden_id}")
            assert hidden.status_code == 404 and kind not in hidden.text, hidden.text
    finally:
        await other.aclose()
    anonymous = await httpx.AsyncClient(base_url=api.url).get("/ui/events")
    assert anonymous.status_code == 303
