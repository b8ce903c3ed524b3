"""Lock users on a few resources while the worker is SIGKILLed: no fence is granted twice,
fences grow per resource in grant order, and no lock is left stuck.

The worker is a real `cape worker` subprocess, killed twice (seeded moments) and started again;
the users go through the real API, each acquiring (waiting), holding briefly and releasing.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx
import pytest

from cape.settings import Settings
from tests.chaos.support import LIMIT, fleet, rng
from tests.conftest import Api
from tests.locks.support import show, until

pytestmark = pytest.mark.timeout(170)
USERS = 20
RESOURCES = 3
ROUNDS = 4
KILLS = 2


async def test_a_killed_worker_grants_no_fence_twice_and_leaves_no_lock_stuck(
    api: Api, settings: Settings, tmp_path: Path
) -> None:
    chance = rng("lock-worker-kill")
    names = [f"kill-{i}-{uuid.uuid4().hex[:6]}" for i in range(RESOURCES)]
    grants: dict[str, list[int]] = {name: [] for name in names}
    done = 0

    async def user(http: httpx.AsyncClient, n: int) -> None:
        nonlocal done
        resource = names[n % RESOURCES]
        for _ in range(ROUNDS):
            body = {"holder": f"u{n}", "wait_seconds": LIMIT, "ttl_seconds": 30}
            got = await http.post(f"/v1/locks/{resource}/acquire", json=body)
            while got.status_code == 202:  # a wait longer than one request: ask again
                got = await http.post(f"/v1/locks/{resource}/acquire", json=body)
            assert got.status_code == 200, got.text
            grants[resource].append(got.json()["fence"])
            await asyncio.sleep(chance.uniform(0.0, 0.05))
            token = got.json()["token"]
            freed = await http.post(f"/v1/locks/{resource}/release", json={"token": token})
            assert freed.status_code == 200, freed.text
        done += 1

    with fleet(tmp_path) as procs:
        procs.start("worker", "worker", settings)
        async with httpx.AsyncClient(base_url=api.url, headers=api.http.headers,
                                     timeout=LIMIT) as http:  # fmt: skip
            users = asyncio.gather(*(user(http, n) for n in range(USERS)))
            for _ in range(KILLS):
                started = sum(map(len, grants.values()))
                ends = time.monotonic() + LIMIT
                while sum(map(len, grants.values())) < started + 5 and time.monotonic() < ends:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)  # kill a worker that granted some locks
                await asyncio.sleep(chance.uniform(0.0, 0.5))
                procs.kill("worker")
                await asyncio.sleep(chance.uniform(0.2, 1.0))
                procs.start("worker", "worker", settings)
            await asyncio.wait_for(users, LIMIT)
            assert done == USERS
            for name, fences in grants.items():
                assert len(fences) == len(set(fences)), f"{name}: a fence granted twice: {fences}"
                assert fences == sorted(fences), f"{name}: fences out of grant order: {fences}"
                users_of = sum(names[n % RESOURCES] == name for n in range(USERS))
                assert len(fences) == users_of * ROUNDS, f"{name}: {fences}"

            async def all_free() -> bool:
                for name in names:
                    lock = await show(api.http, name)
                    if lock["holder"] is not None or lock["waiters"]:
                        return False
                return True

            await until(all_free, LIMIT)
