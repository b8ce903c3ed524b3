"""The 1,000-waiter phase of bench/locks.py: queue N waiters on one resource, check the order,
time the queueing and the grants of a drained sample.

The waiters arrive in batches of 10 concurrent requests (Temporal admits 10 updates in flight
per workflow), each answered 202 at once (the API it talks to has a tiny
`CAPE_LOCK_BLOCK_SECONDS`). The queue read back through GET must hold all of them, ordered by
priority and then by batch. Then `drain` releases in a row, each followed by the next holder
asking for its grant, give the rate at which a long queue is served.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

RANK = {"critical": 0, "high": 1, "normal": 2, "low": 3}
BATCH = 10


@dataclass
class QueueRun:
    """What the phase measured."""

    waiters: int
    queue_seconds: float
    in_order: bool
    drained: int
    drain_seconds: float


async def _acquire(http: httpx.AsyncClient, resource: str, body: dict[str, Any]) -> httpx.Response:
    return await http.post(f"/v1/locks/{resource}/acquire", json=body)


async def _granted(http: httpx.AsyncClient, resource: str, holder: str) -> dict[str, Any]:
    body = {"holder": holder, "wait_seconds": 3600}
    while True:
        got = await _acquire(http, resource, body)
        if got.status_code == 200:
            granted: dict[str, Any] = got.json()
            return granted
        assert got.status_code == 202, got.text
        await asyncio.sleep(0.02)


async def many_waiters(http: httpx.AsyncClient, waiters: int, drain: int) -> QueueRun:
    """Queue `waiters` behind one holder, check the order, then release `drain` times."""
    resource = f"queue-{uuid.uuid4().hex[:6]}"
    chance = random.Random(16)
    first = await _acquire(http, resource, {"holder": "h0", "ttl_seconds": 3600})
    assert first.status_code == 200, first.text
    priority = {f"w{i:04d}": chance.choice(list(RANK)) for i in range(waiters)}
    batch_of = {holder: i // BATCH for i, holder in enumerate(priority)}
    started = time.monotonic()
    names = list(priority)
    for start in range(0, waiters, BATCH):
        answers = await asyncio.gather(
            *(_acquire(http, resource, {"holder": h, "priority": priority[h],
                                        "wait_seconds": 3600, "ttl_seconds": 3600})
              for h in names[start : start + BATCH])
        )  # fmt: skip
        assert all(a.status_code == 202 for a in answers), [a.text for a in answers][:3]
    queue_seconds = time.monotonic() - started
    lock = (await http.get(f"/v1/locks/{resource}")).json()
    queue = [w["holder"] for w in lock["waiters"]]
    keys = [(RANK[priority[h]], batch_of[h]) for h in queue]
    in_order = sorted(queue) == sorted(names) and keys == sorted(keys)
    token = first.json()["token"]
    started = time.monotonic()
    for expected in queue[:drain]:
        freed = await http.post(f"/v1/locks/{resource}/release", json={"token": token})
        assert freed.status_code == 200, freed.text
        grant = await _granted(http, resource, expected)
        token = grant["token"]
    return QueueRun(waiters, queue_seconds, in_order, drain, time.monotonic() - started)
