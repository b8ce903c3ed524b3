"""The audit trail and the per-team limits over real HTTP, on the test's database.

Every write leaves one entry naming who (user, key), what, which object, from where and how it
ended; `GET /v1/audit` filters and pages them. A key over its team's requests per minute gets
429 with `Retry-After`; a team at its running-task limit or over its daily tokens gets its new
task refused with 429 naming the limit, while its running task goes on.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from cape.settings import Settings
from cape.teams import personal_team_id
from tests.conftest import Api
from tests.e2e.audit_support import audit_count, set_team_limits, set_usage
from tests.e2e.auth_support import task_body
from tests.harness import new_api_key, running_api


@pytest.fixture
async def owner(api: Api, settings: Settings) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    """The owner's name and a client of a fresh team."""
    name = f"aud-{uuid.uuid4().hex[:10]}"
    key = await new_api_key(settings, owner=name)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=30) as http:
        yield name, http


async def entries(http: httpx.AsyncClient, **filters: Any) -> list[dict[str, Any]]:
    response = await http.get("/v1/audit", params={"limit": 200, **filters})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_each_write_leaves_one_entry_with_who_what_where_and_outcome(
    api: Api, settings: Settings, owner: tuple[str, httpx.AsyncClient]
) -> None:
    name, http = owner
    whoami = (await http.get("/v1/session")).json()
    created = await http.post("/v1/tasks", json=task_body("audited"), headers={
        "X-Forwarded-For": "203.0.113.9"})  # fmt: skip
    assert created.status_code == 201, created.text
    task_id = created.json()["id"]
    canceled = await http.post(f"/v1/tasks/{task_id}/cancel")
    assert canceled.status_code == 202, canceled.text
    key = await http.post("/v1/keys", json={"name": "reader", "scopes": ["tasks:read"]})
    assert key.status_code == 201, key.text
    async with httpx.AsyncClient(
        base_url=api.url, headers={"Authorization": f"Bearer {key.json()['secret']}"}
    ) as reader:
        refused = await reader.post("/v1/tasks", json=task_body("not allowed"))
        assert refused.status_code == 403
        assert (await reader.get("/v1/audit")).status_code == 403  # admins only
    found = await entries(http)
    actions = [e["action"] for e in found]
    assert sorted(actions) == sorted(["task.create", "task.cancel", "key.create", "task.create"])
    create, failed = [e for e in found if e["action"] == "task.create"][::-1]
    # The proxy header is not trusted by default: the address is the connection's.
    assert create["address"] == "127.0.0.1" and create["outcome"] == "ok"
    assert (create["resource_type"], create["resource_id"]) == ("task", task_id)
    keys = {k["id"]: k for k in (await http.get("/v1/keys")).json()}
    assert (create["actor"], create["user_id"]) == (name, keys[whoami["key_id"]]["user_id"])
    assert create["key_id"] == whoami["key_id"]
    assert failed["outcome"] == "refused" and failed["status_code"] == 403
    assert failed["key_id"] == key.json()["id"]
    cancel = next(e for e in found if e["action"] == "task.cancel")
    assert (cancel["resource_id"], cancel["status_code"], cancel["outcome"]) == (task_id, 202, "ok")
    # A login is audited as its key's.
    secret = http.headers["Authorization"].removeprefix("Bearer ")
    async with httpx.AsyncClient(base_url=api.url) as browser:
        assert (await browser.post("/v1/session", json={"api_key": secret})).status_code == 200
    [login] = await entries(http, action="session.create")
    assert (login["key_id"], login["outcome"]) == (whoami["key_id"], "ok")
    # Another team sees none of it.
    other = await new_api_key(settings, owner=f"aud2-{uuid.uuid4().hex[:8]}")
    async with httpx.AsyncClient(
        base_url=api.url, headers={"Authorization": f"Bearer {other}"}
    ) as two:
        assert await entries(two) == []


async def test_audit_filters_and_cursor_pages(
    settings: Settings, owner: tuple[str, httpx.AsyncClient]
) -> None:
    name, http = owner
    start = datetime.now(UTC) - timedelta(seconds=1)
    made = []
    for i in range(5):
        created = await http.post("/v1/keys", json={"name": f"k{i}", "scopes": ["tasks:read"]})
        assert created.status_code == 201, created.text
        made.append(created.json()["id"])
    task = await http.post("/v1/tasks", json=task_body("filtered"))
    assert task.status_code == 201
    everything = await entries(http)
    assert len(everything) == 6
    assert [e["resource_id"] for e in await entries(http, action="key.create")] == made[::-1]
    assert len(await entries(http, object_type="task")) == 1
    assert [e["action"] for e in await entries(http, object_id=made[2])] == ["key.create"]
    assert len(await entries(http, actor=name)) == 6
    assert await entries(http, actor="somebody-else") == []
    assert len(await entries(http, since=start.isoformat())) == 6
    assert await entries(http, until=start.isoformat()) == []
    bad = await http.get("/v1/audit", params={"since": "2030-01-01T00:00:00Z",
                                              "until": "2029-01-01T00:00:00Z"})  # fmt: skip
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "query.since"
    broken = await http.get("/v1/audit", params={"cursor": "not-a-cursor"})
    assert broken.status_code == 422
    # Pages of two, newest first, each entry exactly once.
    paged: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await http.get("/v1/audit", params=params)).json()
        paged += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == [e["id"] for e in everything]


async def test_a_key_over_its_teams_requests_per_minute_gets_429_with_retry_after(
    api: Api, settings: Settings, owner: tuple[str, httpx.AsyncClient]
) -> None:
    name, http = owner
    limit = 3
    await set_team_limits(settings, personal_team_id(name), rate_limit_rpm=limit)
    # Seven requests span at most one minute boundary, so one window sees four of them.
    answers = [await http.get("/v1/tasks") for _ in range(2 * limit + 1)]
    limited = [a for a in answers if a.status_code == 429]
    assert limited and all(a.status_code in (200, 429) for a in answers)
    refused = limited[0]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    error = refused.json()["error"]
    assert error["code"] == "rate_limited"
    assert error["details"]["limit"] == "rate_limit_rpm" and error["details"]["value"] == limit
    assert "3 requests per minute" in error["message"]
    # Counted per key: another key of the team is not limited by this one's requests.
    other = await http.post("/v1/keys", json={"name": "fresh"})
    if other.status_code == 429:  # the owner's own key is still over its limit
        await set_team_limits(settings, personal_team_id(name), rate_limit_rpm=None)
        other = await http.post("/v1/keys", json={"name": "fresh"})
        await set_team_limits(settings, personal_team_id(name), rate_limit_rpm=limit)
    assert other.status_code == 201, other.text
    async with httpx.AsyncClient(
        base_url=api.url, headers={"Authorization": f"Bearer {other.json()['secret']}"}
    ) as fresh:
        assert (await fresh.get("/v1/tasks")).status_code == 200
    # Unlimited again: no more 429s.
    await set_team_limits(settings, personal_team_id(name), rate_limit_rpm=0)
    assert all([(await http.get("/v1/tasks")).status_code == 200 for _ in range(2 * limit)])


async def test_a_team_at_its_running_task_limit_gets_a_new_task_refused(
    settings: Settings, owner: tuple[str, httpx.AsyncClient]
) -> None:
    name, http = owner
    await set_team_limits(settings, personal_team_id(name), max_running_tasks=1)
    first = await http.post("/v1/tasks", json=task_body("one"))  # no worker: it stays queued
    assert first.status_code == 201, first.text
    second = await http.post("/v1/tasks", json=task_body("two"))
    assert second.status_code == 429, second.text
    error = second.json()["error"]
    assert error["code"] == "limit_exceeded"
    assert error["details"] == {"limit": "max_running_tasks", "value": 1, "current": 1}
    assert "max_running_tasks" in error["message"]
    # The running task goes on; the limit is read on each request, so raising it lets the
    # next task start.
    task = await http.get(f"/v1/tasks/{first.json()['id']}")
    assert task.json()["status"] == "queued"
    await set_team_limits(settings, personal_team_id(name), max_running_tasks=2)
    third = await http.post("/v1/tasks", json=task_body("three"))
    assert third.status_code == 201, third.text
    assert (await http.post("/v1/tasks", json=task_body("four"))).status_code == 429


async def test_a_team_over_its_daily_token_quota_gets_a_new_task_refused(
    settings: Settings, owner: tuple[str, httpx.AsyncClient]
) -> None:
    name, http = owner
    await set_team_limits(settings, personal_team_id(name), daily_token_quota=1000)
    first = await http.post("/v1/tasks", json=task_body("uses tokens"))
    assert first.status_code == 201, first.text
    await set_usage(settings, first.json()["id"], prompt=900, completion=150)
    refused = await http.post("/v1/tasks", json=task_body("over quota"))
    assert refused.status_code == 429, refused.text
    error = refused.json()["error"]
    assert error["code"] == "limit_exceeded"
    assert error["details"] == {"limit": "daily_token_quota", "value": 1000, "current": 1050}
    # The refusal is audited; the task that used the tokens is untouched.
    failed = await entries(http, action="task.create")
    assert [e["outcome"] for e in failed] == ["refused", "ok"]
    assert (await http.get(f"/v1/tasks/{first.json()['id']}")).json()["status"] == "queued"


async def test_owners_set_their_teams_limits_and_the_change_is_audited(
    api: Api, settings: Settings, owner: tuple[str, httpx.AsyncClient]
) -> None:
    name, http = owner
    team = personal_team_id(name)
    changed = await http.patch(f"/v1/teams/{team}", json={"max_running_tasks": 1})
    assert changed.status_code == 200, changed.text
    assert changed.json()["max_running_tasks"] == 1 and changed.json()["rate_limit_rpm"] is None
    assert (await http.get(f"/v1/teams/{team}")).json()["max_running_tasks"] == 1
    assert (await http.post("/v1/tasks", json=task_body("one"))).status_code == 201
    assert (await http.post("/v1/tasks", json=task_body("two"))).status_code == 429
    # Back to the default (unlimited here): the next task starts.
    reset = await http.patch(f"/v1/teams/{team}", json={"max_running_tasks": None})
    assert reset.json()["max_running_tasks"] is None
    assert (await http.post("/v1/tasks", json=task_body("three"))).status_code == 201
    bad = await http.patch(f"/v1/teams/{team}", json={"rate_limit_rpm": -1, "speed": 3})
    assert bad.status_code == 422
    fields = {d["field"] for d in bad.json()["error"]["details"]}
    assert fields == {"body.rate_limit_rpm", "body.speed"}
    [entry, first] = await entries(http, action="team.limits")
    assert entry["details"] == {"before": {"max_running_tasks": 1},
                                "after": {"max_running_tasks": None}}  # fmt: skip
    assert first["details"]["after"] == {"max_running_tasks": 1}
    # Admins may not: owners only.
    members = await http.post(f"/v1/teams/{team}/members", json={"user": f"ad-{name}",
                                                                 "role": "admin"})  # fmt: skip
    key = await http.post("/v1/keys", json={"user_id": members.json()["user_id"]})
    async with httpx.AsyncClient(
        base_url=api.url, headers={"Authorization": f"Bearer {key.json()['secret']}"}
    ) as admin:
        refused = await admin.patch(f"/v1/teams/{team}", json={"rate_limit_rpm": 0})
        assert refused.status_code == 403, refused.text


async def test_two_api_servers_count_one_keys_requests_together(
    api: Api, settings: Settings, owner: tuple[str, httpx.AsyncClient]
) -> None:
    name, _ = owner
    limit = 4
    await set_team_limits(settings, personal_team_id(name), rate_limit_rpm=limit)
    async with running_api(settings) as second_url:
        for _attempt in range(2):  # a second try only when the first straddled a minute
            key = await new_api_key(settings, owner=name)
            headers = {"Authorization": f"Bearer {key}"}
            minute = datetime.now(UTC).replace(second=0, microsecond=0)
            answers = []
            # Alternating: each server sees at most 3 of the 5 requests, within its own limit.
            for i in range(limit + 1):
                url = (api.url if i % 2 else second_url) + "/v1/tasks"
                async with httpx.AsyncClient(headers=headers) as http:
                    answers.append((await http.get(url)).status_code)
            if datetime.now(UTC).replace(second=0, microsecond=0) == minute:
                break
        assert answers == [200] * limit + [429]
        # A write refused for its rate leaves no audit entry (a flood writes nothing).
        logged = await audit_count(settings, personal_team_id(name))
        async with httpx.AsyncClient(headers=headers) as http:
            refused = await http.post(second_url + "/v1/keys", json={"name": "x"})
        assert refused.status_code == 429
        assert await audit_count(settings, personal_team_id(name)) == logged


async def test_temporal_only_changes_are_audited_with_their_object(
    owner: tuple[str, httpx.AsyncClient],
) -> None:
    _, http = owner
    made = await http.post("/v1/schedules", json={
        "agent": "assistant", "input": {"prompt": "audited"}, "interval_seconds": 3600,
        "paused": True,
    })  # fmt: skip
    assert made.status_code == 201, made.text
    schedule_id = made.json()["id"]
    assert (await http.post(f"/v1/schedules/{schedule_id}/unpause", json={})).status_code == 200
    assert (await http.delete(f"/v1/schedules/{schedule_id}")).status_code == 204
    found = await entries(http, object_type="schedule")
    assert [(e["action"], e["resource_id"], e["outcome"]) for e in found] == [
        ("schedule.delete", schedule_id, "ok"),
        ("schedule.unpause", schedule_id, "ok"),
        ("schedule.create", schedule_id, "ok"),
    ]
