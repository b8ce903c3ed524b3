"""`cape tasks rerun|fork|retry|pause|resume` against the real API, worker and scripted LLM."""

from __future__ import annotations

import json

from temporalio.worker import Worker

from cli.testing.fake_llm import FakeLLMServer, Turn
from tests.cape.test_cli_tasks import cape
from tests.conftest import Api
from tests.e2e.tooling import call, run_task, wait_task


async def test_rerun_fork_and_refused_operations(
    api: Api, worker: Worker, fake_llm: FakeLLMServer
) -> None:
    turns = [Turn(tool_calls=[call("write_file", path="a.txt", content="a")]), Turn(content="ok")]
    first = await run_task(api, fake_llm, turns, agent="assistant")

    rerun = await cape(api.url, api.key, "tasks", "rerun", first["id"], "--json")
    assert rerun.exit_code == 0, rerun.output
    new = json.loads(rerun.stdout)
    assert new["parent_id"] == first["id"] and new["relation"] == "rerun"
    assert (await wait_task(api, new["id"]))["status"] == "succeeded"

    forked = await cape(
        api.url, api.key, "tasks", "fork", first["id"], "--step", "4", "--set", "prompt=again"
    )
    assert forked.exit_code == 0, forked.output
    fork_id = forked.stdout.strip()
    fork = await wait_task(api, fork_id)
    assert fork["status"] == "succeeded" and fork["input"]["prompt"] == "again", fork

    refused = await cape(api.url, api.key, "tasks", "retry", first["id"])
    assert refused.exit_code != 0
    assert "only a failed task can be retried" in refused.output
    paused = await cape(api.url, api.key, "tasks", "pause", first["id"])
    assert paused.exit_code != 0 and "succeeded" in paused.output
