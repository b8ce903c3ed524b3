"""Many acquirers on one resource: never two holders, fences strictly increase, a full queue
is refused with a clear error."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from cape.settings import Settings
from tests.conftest import Api
from tests.locks.support import acquire, release, show
from worker.group import WorkerGroup

# Waiters that queue at once (each then holds and releases): enough to keep a queue.
WAITERS = 20


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Each request waits for its grant in one call; at most 3 may wait beyond the holder.
    return settings.model_copy(update={"lock_block_seconds": 120.0})


async def test_100_try_locks_at_once_give_one_grant(api: Api, worker: WorkerGroup) -> None:
    resource = f"try-{uuid.uuid4().hex[:8]}"
    answers = await asyncio.gather(
        *(acquire(api.http, resource, f"c{i}", ttl_seconds=300) for i in range(100))
    )
    codes = sorted(a.status_code for a in answers)
    others = [a.text for a in answers if a.status_code not in (200, 408)][:3]
    assert codes == [200] + [408] * 99, (codes.count(200), others)


async def test_queued_acquirers_are_granted_one_at_a_time_in_fence_order(
    api: Api, worker: WorkerGroup
) -> None:
    resource = f"busy-{uuid.uuid4().hex[:8]}"
    holding: set[str] = set()
    grants: list[int] = []

    async def use(http: httpx.AsyncClient, holder: str) -> None:
        got = await acquire(http, resource, holder, wait_seconds=300, ttl_seconds=120)
        assert got.status_code == 200, got.text
        assert not holding, f"{holder} granted while {holding} holds"
        holding.add(holder)
        grants.append(got.json()["fence"])
        await asyncio.sleep(0.001)
        holding.discard(holder)
        assert (await release(http, resource, got.json()["token"])).status_code == 200

    limits = httpx.Limits(max_connections=120)
    async with httpx.AsyncClient(
        base_url=api.url, headers=api.http.headers, timeout=300, limits=limits
    ) as http:
        await asyncio.gather(*(use(http, f"u{i}") for i in range(WAITERS)))
    assert grants == list(range(1, WAITERS + 1))  # granted in fence order, no fence twice
    lock = await show(api.http, resource)
    assert lock["holder"] is None and lock["waiters"] == [] and lock["fence"] == WAITERS


async def test_a_full_queue_refuses_with_the_limit_named(
    api: Api, worker: WorkerGroup, settings: Settings
) -> None:
    small = settings.model_copy(update={"lock_max_waiters": 2, "lock_block_seconds": 0.2})
    from tests.harness import running_api

    resource = f"full-{uuid.uuid4().hex[:8]}"
    async with (
        running_api(small) as url,
        httpx.AsyncClient(base_url=url, headers=api.http.headers, timeout=60) as http,
    ):
        assert (await acquire(http, resource, "a", ttl_seconds=300)).status_code == 200
        for holder in ("b", "c"):
            assert (await acquire(http, resource, holder, wait_seconds=60)).status_code == 202
        full = await acquire(http, resource, "d", wait_seconds=60)
        assert full.status_code == 429, full.text
        assert full.json()["error"]["details"] == {"limit": "lock_max_waiters"}
        again = await acquire(http, resource, "b", wait_seconds=60)  # a waiter keeps its place
        assert again.status_code == 202
