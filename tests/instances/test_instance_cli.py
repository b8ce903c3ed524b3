"""`cape instances` against the real API, as a real process."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid

from cli.testing.fake_llm import FakeLLMServer
from tests.conftest import Api
from tests.events.support import publish, routed
from tests.harness import ROOT
from tests.instances.support import agent, answering_model, until
from worker.group import WorkerGroup


async def cape(api: Api, *args: str) -> tuple[int, str, str]:
    """`cape instances <args>` with the test's API and key; exit code, stdout, stderr."""
    argv = ["instances", args[0], "--api-url", api.url, "--api-key", api.key, *args[1:]]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPE_API")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli", *argv, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_cape_instances_starts_lists_shows_pauses_and_stops(
    api: Api, worker: WorkerGroup, fake_llm: FakeLLMServer
) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    agent_name = await agent(api.http, answering_model(fake_llm))
    code, out, err = await cape(
        api, "start", name, "--agent", agent_name, "--version", "^1", "--on", "cli.*",
        "--filter", "env=prod", "--prompt", "deploy {{ event.data.n }}", "--json",
    )  # fmt: skip
    assert code == 0, err
    made = json.loads(out)
    assert made["subscriptions"] == [
        {
            "event": "cli.*",
            "filter": {"env": "prod"},
            "input": {"prompt": "deploy {{ event.data.n }}"},
        }
    ]
    code, out, err = await cape(api, "pause", made["id"])
    assert code == 0 and out.strip() == f"{made['id']}: paused", err
    await routed(api.http, (await publish(api.http, "cli.go", data={"env": "prod", "n": 7}))["id"])
    await until(api.http, made["id"], lambda v: v["inbox_length"] == 1)
    code, out, err = await cape(api, "show", made["id"])
    assert code == 0, err
    assert "state:    paused" in out and "inbox:    1" in out
    code, out, err = await cape(api, "resume", made["id"])
    assert code == 0, err
    await until(api.http, made["id"], lambda v: v["counters"]["succeeded"] == 1)
    code, out, err = await cape(api, "history", made["id"])
    assert code == 0, err
    assert "succeeded" in out and "1.0.0" in out
    code, out, err = await cape(api, "ls")
    assert code == 0, err
    assert any(line.split()[:2] == [made["id"], name] for line in out.splitlines()), out
    code, out, err = await cape(api, "recover", made["id"])
    assert code != 0 and "not in error" in out + err
    code, out, err = await cape(api, "stop", made["id"], "--cancel")
    assert code == 0 and out.strip() == f"{made['id']}: stopped", err
