"""A lock request that no worker would answer is a prompt 503 `no_worker`, never a hang."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from temporalio.client import Client

from cape.db.engine import create_engine
from cape.llm.providers import Providers
from cape.settings import Settings
from tests.conftest import Api
from tests.locks.support import acquire, release
from worker.main import build_worker

# The bound a no-worker answer must come within: the injected update timeout plus slack.
TIMEOUT = 1.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"lock_worker_timeout_seconds": TIMEOUT, "lock_block_seconds": 0.3}
    )


def assert_no_worker(response: httpx.Response, queue: str) -> None:
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "no_worker"
    assert "no worker" in error["message"] and queue in error["message"]
    assert error["details"] == {"task_queue": queue, "reason": "no_worker"}


async def test_no_worker_polling_is_a_503_at_once(api: Api, settings: Settings) -> None:
    resource = f"nw-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    for body in ({}, {"wait_seconds": 60}):
        assert_no_worker(await acquire(api.http, resource, "a", **body), settings.task_queue)
    assert_no_worker(await release(api.http, resource, "f" * 32), settings.task_queue)
    renew = await api.http.post(f"/v1/locks/{resource}/renew", json={"token": "f" * 32})
    assert_no_worker(renew, settings.task_queue)
    check = await api.http.get(f"/v1/locks/{resource}/check", params={"fence": 1})
    assert_no_worker(check, settings.task_queue)
    assert time.monotonic() - started < 5 * TIMEOUT + 5
    # Nothing was sent: the lock was never created.
    assert (await api.http.get(f"/v1/locks/{resource}")).status_code == 404


async def test_a_worker_gone_since_its_last_poll_is_a_503_within_the_timeout(
    api: Api, settings: Settings, client: Client
) -> None:
    resource = f"gone-{uuid.uuid4().hex[:8]}"
    engine = create_engine(settings)
    provider = Providers(settings)
    async with build_worker(client, settings, engine, provider):
        held = await acquire(api.http, resource, "a", ttl_seconds=300)
        assert held.status_code == 200, held.text
    await provider.aclose()
    await engine.dispose()
    # The worker's polls are still listed (Temporal keeps them for minutes): the update is
    # sent and nobody answers it within the injected timeout.
    started = time.monotonic()
    assert_no_worker(await acquire(api.http, resource, "b", wait_seconds=30), settings.task_queue)
    answer = await release(api.http, resource, held.json()["token"])
    assert_no_worker(answer, settings.task_queue)
    assert time.monotonic() - started < 2 * TIMEOUT + 10
