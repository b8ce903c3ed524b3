"""Locks over the real API and worker: grant order, fences, leases, stale tokens."""

from __future__ import annotations

import uuid

from temporalio.client import Client

from tests.conftest import Api
from tests.locks.support import acquire, release, show, wait_grant
from worker.group import WorkerGroup


def name() -> str:
    return f"res-{uuid.uuid4().hex[:8]}"


async def test_grants_follow_priority_then_arrival_with_growing_fences(
    api: Api, worker: WorkerGroup
) -> None:
    resource = name()
    first = await acquire(api.http, resource, "a", ttl_seconds=300)
    assert first.status_code == 200, first.text
    fences = [first.json()["fence"]]
    for holder, priority in [("b", "normal"), ("c", "low"), ("d", "high"), ("e", "normal"),
                             ("f", "critical")]:  # fmt: skip
        queued = await acquire(api.http, resource, holder, priority=priority, wait_seconds=120)
        assert queued.status_code == 202, queued.text
        assert queued.json()["status"] == "waiting"
    lock = await show(api.http, resource)
    assert lock["holder"] == "a"
    assert [w["holder"] for w in lock["waiters"]] == ["f", "d", "b", "e", "c"]
    assert [w["position"] for w in lock["waiters"]] == [1, 2, 3, 4, 5]
    again = await acquire(api.http, resource, "e", wait_seconds=120)  # keeps its place
    assert again.status_code == 202 and again.json()["position"] == 4
    token = first.json()["token"]
    order = []
    for _ in range(5):
        assert (await release(api.http, resource, token)).status_code == 200
        lock = await show(api.http, resource)
        order.append(lock["holder"])
        grant = await wait_grant(api.http, resource, lock["holder"], wait_seconds=120)
        assert grant["holder"] == lock["holder"]
        token = grant["token"]
        fences.append(grant["fence"])
    assert order == ["f", "d", "b", "e", "c"]
    assert fences == sorted(set(fences)) and len(fences) == 6
    assert (await release(api.http, resource, token)).status_code == 200
    listed = {lock["resource"]: lock for lock in (await api.http.get("/v1/locks")).json()}
    assert resource in listed  # the database copy (saved after each change)


async def test_an_expired_lease_goes_to_the_next_waiter_and_its_token_is_stale(
    api: Api, worker: WorkerGroup
) -> None:
    resource = name()
    old = await acquire(api.http, resource, "old", ttl_seconds=1)
    assert old.status_code == 200, old.text
    new = await wait_grant(api.http, resource, "new", wait_seconds=60, ttl_seconds=120)
    assert new["fence"] == old.json()["fence"] + 1
    for action in ("renew", "release"):
        stale = await api.http.post(
            f"/v1/locks/{resource}/{action}", json={"token": old.json()["token"]}
        )
        assert stale.status_code == 409, stale.text
        assert stale.json()["error"]["code"] == "conflict"
    check = await api.http.get(f"/v1/locks/{resource}/check", params={"fence": old.json()["fence"]})
    assert check.json() == {"resource": resource, "fence": old.json()["fence"], "current": False,
                            "current_fence": new["fence"]}  # fmt: skip
    # The stale holder's refused calls leave the new holder's lease in force, and a live token
    # of another resource is stale here too.
    check = await api.http.get(f"/v1/locks/{resource}/check", params={"fence": new["fence"]})
    assert check.json()["current"] is True
    other = await acquire(api.http, name(), "new", ttl_seconds=60)
    elsewhere = await release(api.http, resource, other.json()["token"])
    assert elsewhere.status_code == 409 and elsewhere.json()["error"]["details"] == {
        "reason": "stale_token"
    }
    assert (await show(api.http, resource))["holder"] == "new"
    renewed = await api.http.post(
        f"/v1/locks/{resource}/renew", json={"token": new["token"], "ttl_seconds": 600}
    )
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["fence"] == new["fence"]
    assert renewed.json()["lease_expires_at"] > new["lease_expires_at"]


async def test_a_wait_that_runs_out_is_408_and_leaves_the_queue(
    api: Api, worker: WorkerGroup
) -> None:
    resource = name()
    assert (await acquire(api.http, resource, "a", ttl_seconds=300)).status_code == 200
    now = await acquire(api.http, resource, "b")  # wait_seconds 0: now or never
    assert now.status_code == 408, now.text
    assert now.json()["error"]["code"] == "timed_out"
    short = await acquire(api.http, resource, "c", wait_seconds=0.2)
    assert short.status_code == 408, short.text
    assert (await show(api.http, resource))["waiters"] == []


async def test_bad_names_and_limits_are_refused_naming_the_field(
    api: Api, worker: WorkerGroup, client: Client
) -> None:
    bad = await acquire(api.http, "has space", "a")
    assert bad.status_code == 422 and "path.resource" in bad.text, bad.text
    too_long = await acquire(api.http, name(), "a", ttl_seconds=10**9)
    assert too_long.status_code == 422 and "body.ttl_seconds" in too_long.text, too_long.text
    for body in ({"priority": "urgent"}, {"wait_seconds": -1}, {"ttl_seconds": 0}):
        refused = await acquire(api.http, name(), "a", **body)
        assert refused.status_code == 422, refused.text
    missing = await api.http.get(f"/v1/locks/{name()}")
    assert missing.status_code == 404
    never = await release(api.http, name(), "nope")
    assert never.status_code == 409


async def test_an_admin_revokes_the_lease_in_force_by_its_fence(
    api: Api, worker: WorkerGroup
) -> None:
    resource = name()
    held = await acquire(api.http, resource, "stuck", ttl_seconds=3600)
    assert held.status_code == 200, held.text
    queued = await acquire(api.http, resource, "next", wait_seconds=600)
    assert queued.status_code == 202, queued.text
    wrong = await api.http.post(f"/v1/locks/{resource}/revoke", json={"fence": 7})
    assert wrong.status_code == 409, wrong.text
    assert wrong.json()["error"]["details"] == {"reason": "not_current", "fence": 7,
                                                "current_fence": 1}  # fmt: skip
    revoked = await api.http.post(f"/v1/locks/{resource}/revoke", json={"fence": 1})
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["holder"] == "stuck" and "token" not in revoked.json()
    grant = await wait_grant(api.http, resource, "next", wait_seconds=600)
    assert grant["fence"] == 2
    assert (await release(api.http, resource, held.json()["token"])).status_code == 409
    missing = await api.http.post(f"/v1/locks/{name()}/revoke", json={"fence": 1})
    assert missing.status_code == 404, missing.text
