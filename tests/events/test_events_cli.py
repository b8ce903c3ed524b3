"""`cape events publish|ls|show` as real processes against the real API and worker."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid

import httpx
from temporalio.worker import Worker

from cape.settings import Settings
from tests.conftest import Api
from tests.events.support import routed, triggered_agent
from tests.harness import ROOT, new_api_key


async def cape(url: str, key: str, *args: str) -> tuple[int, str]:
    """Run `python -m cli events <command> --api-url ... <args>` as a real process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPE_API")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli", "events", args[0], "--api-url", url,
        "--api-key", key, *args[1:],
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_cli_publish_ls_show(api: Api, settings: Settings, worker: Worker) -> None:
    owner = f"evcli-{uuid.uuid4().hex[:8]}"
    key = await new_api_key(settings, owner=owner)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=60) as http:
        agent = await triggered_agent(
            http, {"event": "cli.*", "input": {"prompt": "ticket {{ event.data.n }}"}}
        )
        code, out = await cape(
            api.url, key, "publish", "cli.ticket", "--data", '{"n": 7}', "--priority", "critical"
        )
        assert code == 0, out
        event_id = out.strip()
        assert event_id.startswith("evt_"), out
        event = await routed(http, event_id)
    assert event["status"] == "routed" and event["priority"] == "critical"
    code, out = await cape(api.url, key, "show", event_id)
    assert code == 0, out
    assert "routed" in out and agent in out and event["routes"][0]["task_id"] in out
    code, out = await cape(api.url, key, "ls", "--status", "routed")
    assert code == 0 and event_id in out and "cli.ticket" in out, out
    code, out = await cape(api.url, key, "publish", "cli.bad", "--data", "[1]")
    assert code != 0 and "--data" in out, out
