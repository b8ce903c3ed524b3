"""`cape locks ls|show|release` against the real API, as a real process."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid

from tests.conftest import Api
from tests.harness import ROOT
from tests.locks.support import acquire, until
from worker.group import WorkerGroup


async def cape(api: Api, *args: str) -> tuple[int, str, str]:
    """`cape locks <args>` with the test's API and key; exit code, stdout, stderr."""
    argv = ["locks", args[0], "--api-url", api.url, "--api-key", api.key, *args[1:]]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPE_API")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli", *argv, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_cape_locks_lists_shows_and_releases(api: Api, worker: WorkerGroup) -> None:
    resource = f"cli-{uuid.uuid4().hex[:8]}"
    grant = (await acquire(api.http, resource, "printer", ttl_seconds=300)).json()
    queued = await acquire(api.http, resource, "scanner", priority="high", wait_seconds=300)
    assert queued.status_code == 202
    code, out, err = await cape(api, "show", resource)
    assert code == 0, err
    assert "holder:   printer (client, normal)" in out
    assert "1. scanner (high)" in out

    async def copied() -> bool:  # the listing's database copy follows each change shortly
        locks = (await api.http.get("/v1/locks")).json()
        return any(lock["resource"] == resource and lock["waiters"] for lock in locks)

    await until(copied)
    code, out, err = await cape(api, "ls", "--json")
    assert code == 0, err
    [mine] = [lock for lock in json.loads(out) if lock["resource"] == resource]
    assert mine["holder"] == "printer" and mine["waiters"][0]["holder"] == "scanner"
    code, out, err = await cape(api, "ls")
    assert code == 0, err
    assert any(line.split()[:2] == [resource, "printer"] for line in out.splitlines()), out
    code, out, err = await cape(api, "release", resource, "--token", "stale")
    assert code != 0 and "not the lock's current lease" in out + err
    code, out, err = await cape(api, "release", resource, "--token", grant["token"])
    assert code == 0, err
    assert out.strip() == f"released {resource} (holder printer, fence 1)"
    code, out, err = await cape(api, "release", resource)
    assert code != 0 and "exactly one of --token and --fence" in out + err
    # The scanner holds it now (fence 2): an admin revokes it by its fence, without the token.
    await until(lambda: holder_is(api, resource, "scanner"))
    code, out, err = await cape(api, "release", resource, "--fence", "1")
    assert code != 0 and "not a lease in force" in out + err
    code, out, err = await cape(api, "release", resource, "--fence", "2")
    assert code == 0, err
    assert out.strip() == f"revoked {resource} (holder scanner, fence 2)"


async def holder_is(api: Api, resource: str, holder: str) -> bool:
    return bool((await api.http.get(f"/v1/locks/{resource}")).json()["holder"] == holder)
