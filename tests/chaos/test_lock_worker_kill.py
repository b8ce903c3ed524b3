"""100 lock users on 5 resources while the worker is SIGKILLed: no double grant, no stuck lock.

The worker is a real `cape worker` subprocess, killed once in the middle (a seeded moment) and
started again; the users go through the real API. First a holder per resource takes its lock
with a short lease and "crashes" (never releases), so that lease's expiry must free it; then
each user acquires its resource (waiting), holds it briefly and releases it.

From the grant and release records: per resource, fences are unique and strictly increase in
grant order, and no two holders overlap (each grant comes after the previous holder's release
was sent, or after its lease ran out). At the end every lock is free with an empty queue.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from cape.settings import Settings
from tests.chaos.support import LIMIT, fleet, rng
from tests.conftest import Api
from tests.locks.support import show, until, wait_polling

pytestmark = pytest.mark.timeout(120)
USERS = 100
RESOURCES = 5
ROUNDS = 1
CRASHED_TTL = 2.0  # the lease of each resource's first holder, which never releases
# Wall-clock rounding between the client's clock and the workflow's (same machine).
SLACK = timedelta(milliseconds=5)


@dataclass
class Held:
    """One grant as its holder saw it, and how it ended."""

    holder: str
    fence: int
    granted_at: datetime
    expires_at: datetime
    released_at: datetime | None = None  # when the release was sent (it answered 200)

    @property
    def ended(self) -> datetime:
        return self.released_at or self.expires_at


def audit(records: dict[str, list[Held]]) -> tuple[int, int]:
    """(double grants, overlapping holders) over every resource's records."""
    doubles = overlaps = 0
    for held in records.values():
        ordered = sorted(held, key=lambda h: h.fence)
        doubles += len(held) - len({h.fence for h in held})
        for before, after in itertools.pairwise(ordered):
            if after.granted_at < before.granted_at or after.granted_at + SLACK < before.ended:
                overlaps += 1
    return doubles, overlaps


async def test_a_killed_worker_grants_no_lock_twice_and_leaves_none_stuck(
    api: Api, settings: Settings, client: Client, tmp_path: Path
) -> None:
    chance = rng("lock-worker-kill-100")
    names = [f"kill-{i}-{uuid.uuid4().hex[:6]}" for i in range(RESOURCES)]
    records: dict[str, list[Held]] = {name: [] for name in names}
    hold = {(n, r): chance.uniform(0.0, 0.05) for n in range(USERS) for r in range(ROUNDS)}
    done = 0

    async def take(
        http: httpx.AsyncClient, resource: str, holder: str, ttl: float
    ) -> tuple[Held, str]:
        """Acquire (asking again while 202) and record the grant; the record and its token."""
        body = {"holder": holder, "wait_seconds": LIMIT, "ttl_seconds": ttl}
        got = await http.post(f"/v1/locks/{resource}/acquire", json=body)
        while got.status_code == 202:  # a wait longer than one request: ask again
            got = await http.post(f"/v1/locks/{resource}/acquire", json=body)
        assert got.status_code == 200, got.text
        grant = got.json()
        held = Held(
            holder, grant["fence"], datetime.fromisoformat(grant["granted_at"]),
            datetime.fromisoformat(grant["lease_expires_at"]),
        )  # fmt: skip
        records[resource].append(held)
        return held, grant["token"]

    async def user(http: httpx.AsyncClient, n: int) -> None:
        nonlocal done
        resource = names[n % RESOURCES]
        for r in range(ROUNDS):
            held, token = await take(http, resource, f"u{n}-{r}", 30.0)
            await asyncio.sleep(hold[(n, r)])
            sent = datetime.now(UTC)
            freed = await http.post(f"/v1/locks/{resource}/release", json={"token": token})
            assert freed.status_code == 200, freed.text
            held.released_at = sent
        done += 1

    started = time.monotonic()
    with fleet(tmp_path) as procs:
        procs.start("worker", "worker", settings)
        await wait_polling(client, settings.task_queue, LIMIT)
        limits = httpx.Limits(max_connections=USERS + 20)
        async with httpx.AsyncClient(
            base_url=api.url, headers=api.http.headers, timeout=LIMIT, limits=limits
        ) as http:
            for name in names:  # holders that crash: their leases must run out
                await take(http, name, "crashed", CRASHED_TTL)
            users = asyncio.gather(*(user(http, n) for n in range(USERS)))
            half = RESOURCES + USERS * ROUNDS // 2
            ends = time.monotonic() + LIMIT
            while sum(map(len, records.values())) < half and time.monotonic() < ends:  # noqa: ASYNC110
                await asyncio.sleep(0.05)  # kill the worker in the middle of the grants
            procs.kill("worker")
            await asyncio.sleep(chance.uniform(0.2, 1.0))
            procs.start("worker", "worker", settings)
            await asyncio.wait_for(users, LIMIT)
            assert done == USERS

            async def all_free() -> bool:
                for name in names:
                    lock = await show(api.http, name)
                    if lock["holder"] is not None or lock["waiters"]:
                        return False
                return True

            await until(all_free, LIMIT)
    grants = sum(map(len, records.values()))
    doubles, overlaps = audit(records)
    figures = (
        f"chaos lock-worker-kill: users={USERS} resources={RESOURCES} grants={grants} "
        f"crashed_holders={RESOURCES} kills=1 double_grants={doubles} overlaps={overlaps} "
        f"stuck=0 seconds={time.monotonic() - started:.1f}"
    )
    print(figures)
    assert grants == RESOURCES + USERS * ROUNDS, figures
    assert doubles == 0 and overlaps == 0, figures
    for name, held in records.items():
        fences = [h.fence for h in sorted(held, key=lambda h: h.granted_at)]
        assert fences == sorted(set(fences)), f"{name}: fences out of grant order: {fences}"
