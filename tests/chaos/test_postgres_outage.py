"""PostgreSQL stops for 20 s under running tasks: the API answers 503, then nothing is lost.

Runs only on PostgreSQL (CAPE_TEST_DATABASE_URL) when the test can stop and start the local
cluster itself (`pg_ctlcluster`). During the outage the API must answer fast with a clear 503
body (no 500, no hang) and `/readyz` must name the database; after it every task completes
with each step recorded once and gap-free events.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer
from tests.chaos.support import LIMIT, Tally, audit, fleet, rng, wait_count, wait_terminal
from tests.conftest import Api
from tests.e2e.test_crash import KINDS, start_tasks, two_files_script

pytestmark = [pytest.mark.timeout(170), pytest.mark.database]
TASKS = 10
OUTAGE_SECONDS = 20.0
CONFIG = Path("/etc/postgresql")


class Cluster:
    """The local PostgreSQL cluster `version/main`, driven with pg_ctlcluster."""

    def __init__(self, version: str, host: str, port: int) -> None:
        self.version, self.host, self.port = version, host, port

    def ctl(self, action: str) -> subprocess.CompletedProcess[str]:
        command = ["pg_ctlcluster", "--skip-systemctl-redirect", self.version, "main", action]
        return subprocess.run(command, capture_output=True, text=True, timeout=LIMIT)

    def ready(self) -> bool:
        command = ["pg_isready", "-q", "-h", self.host, "-p", str(self.port)]
        return subprocess.run(command, timeout=10).returncode == 0

    def wait_ready(self) -> None:
        end = time.monotonic() + LIMIT
        while not self.ready():
            assert time.monotonic() < end, f"PostgreSQL {self.version} did not come back"
            time.sleep(0.2)


def local_cluster(url: str | None) -> Cluster | str:
    """The cluster behind `url` if this test may stop it, else why not (the skip reason)."""
    if not url:
        return "the app database is SQLite (set CAPE_TEST_DATABASE_URL for PostgreSQL)"
    parsed = make_url(url)
    host, port = parsed.host or "127.0.0.1", parsed.port or 5432
    if host not in ("127.0.0.1", "localhost", "::1"):
        return f"PostgreSQL at {host} is not a local cluster"
    if not (shutil.which("pg_ctlcluster") and shutil.which("pg_isready")):
        return "pg_ctlcluster/pg_isready are not installed"
    versions = sorted(p.name for p in CONFIG.glob("*") if (p / "main").is_dir())
    for version in versions:
        conf = (CONFIG / version / "main" / "postgresql.conf").read_text(errors="replace")
        found = re.search(r"^\s*port\s*=\s*(\d+)", conf, re.MULTILINE)
        if (int(found.group(1)) if found else 5432) == port:
            cluster = Cluster(version, host, port)
            status = cluster.ctl("status")
            if status.returncode != 0:
                return f"cannot control cluster {version}/main: {status.stderr.strip()}"
            return cluster
    return f"no cluster in {CONFIG} listens on port {port}"


@contextmanager
def outage(cluster: Cluster) -> Iterator[None]:
    """PostgreSQL stopped for the block; started again (and ready) whatever happens."""
    stopped = cluster.ctl("stop")
    assert stopped.returncode == 0, stopped.stderr
    try:
        yield
    finally:
        started = cluster.ctl("start")
        cluster.wait_ready()
        assert started.returncode == 0 or cluster.ready(), started.stderr


def assert_unavailable(reply: httpx.Response, what: str) -> dict[str, Any]:
    """A 503 with the JSON error body, naming the problem."""
    assert reply.status_code == 503, f"{what}: {reply.status_code} {reply.text[:500]}"
    error = reply.json()["error"]
    assert error["code"] == "unavailable" and error["message"], (what, error)
    return dict(error)


async def test_tasks_survive_a_postgres_outage(
    api: Api, fake_llm: FakeLLMServer, settings: Settings, tmp_path: Path
) -> None:
    cluster = local_cluster(os.environ.get("CAPE_TEST_DATABASE_URL"))
    if isinstance(cluster, str):
        pytest.skip(cluster)
    chance = rng("postgres-outage")
    names = [f"pg-{i}-{uuid.uuid4().hex[:6]}" for i in range(TASKS)]
    for name in names:
        first, last = round(chance.uniform(1.0, 2.0), 2), round(chance.uniform(0.5, 1.5), 2)
        fake_llm.add_script(two_files_script(name, first_delay=first, last_delay=last))
    tally = Tally("postgres-outage")
    answers: dict[str, int] = {}
    with fleet(tmp_path) as procs:
        procs.start("worker", "worker", settings)
        ids = await start_tasks(api, names, 0.05)
        what = "every task to reach its first LLM turn"
        await wait_count(settings, ids, "step-started", 2 * TASKS, what)
        with outage(cluster):
            tally.faults += 1
            down = time.monotonic()
            # Every API call answers quickly with the JSON error: no 500, no hang.
            async with asyncio.timeout(LIMIT):
                read = await api.http.get(f"/v1/tasks/{ids[0]}", timeout=15)
                assert_unavailable(read, "GET /v1/tasks/{id}")
                body = {"agent": "assistant", "input": {"prompt": "x"}, "model": "demo"}
                created = await api.http.post("/v1/tasks", json=body, timeout=15)
                assert_unavailable(created, "POST /v1/tasks")
                ready = await api.http.get("/readyz", timeout=15)
                checks = assert_unavailable(ready, "/readyz")["details"]
                assert checks["database"].startswith("unavailable"), checks
                assert checks["temporal"] == "ok", checks
                answers = {"get": read.status_code, "post": created.status_code}
            await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down)))
        tally.extra["outage_s"] = round(time.monotonic() - down)
        await wait_terminal(settings, ids)
        assert (await api.http.get("/readyz")).status_code == 200
        assert (await api.http.get(f"/v1/tasks/{ids[0]}")).status_code == 200
    await audit(settings, ids, KINDS, tally)
    tally.extra.update({f"api_{k}_during_outage": v for k, v in answers.items()})
    message = tally.report()
    assert tally.lost == 0, message
