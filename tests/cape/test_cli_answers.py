"""`cape tasks answer`, `cape run --input` and `cape usage` against the real API and worker."""

from __future__ import annotations

import json
import uuid

from temporalio.worker import Worker

from cli.testing.fake_llm import FakeLLMServer, Script, Turn
from tests.cape.test_cli_tasks import cape
from tests.conftest import Api
from tests.e2e.agent_support import publish, spec, start, wait_status
from tests.e2e.tooling import call, wait_task


async def test_answering_a_pending_approval_and_reading_usage(
    api: Api, worker: Worker, fake_llm: FakeLLMServer
) -> None:
    agent = await publish(api, spec(tools=[{"name": "write_file", "approval": True}]))
    name = f"cli-{uuid.uuid4().hex[:8]}"
    turns = [Turn(tool_calls=[call("write_file", path="a.txt", content="a")]), Turn(content="ok")]
    fake_llm.add_script(Script(name=name, turns=turns))
    task = await start(api, agent, f"script:{name}")
    await wait_status(api, task["id"], "input_required")

    wrong = await cape(api.url, api.key, "tasks", "answer", task["id"], "approve",
                       "--request-id", "approval-99")  # fmt: skip
    assert wrong.exit_code != 0 and "stale" in wrong.output
    answered = await cape(api.url, api.key, "tasks", "answer", task["id"], "approve")
    assert answered.exit_code == 0, answered.output
    assert answered.stdout.startswith("approve approval-"), answered.stdout
    assert "(the call write_file" in answered.stdout
    assert (await wait_task(api, task["id"]))["status"] == "succeeded"
    idle = await cape(api.url, api.key, "tasks", "answer", task["id"], "approve")
    assert idle.exit_code != 0 and "waits for nothing" in idle.output

    report = await cape(api.url, api.key, "usage", "--json")
    assert report.exit_code == 0, report.output
    rows = {row["key"]: row for row in json.loads(report.stdout)["rows"]}
    assert rows[agent]["tasks"] == 1 and rows[agent]["total_tokens"] > 0
    table = await cape(api.url, api.key, "usage", "--by", "model")
    assert table.exit_code == 0 and f"script:{name}" in table.stdout


async def test_a_rejection_says_reject_not_approve(
    api: Api, worker: Worker, fake_llm: FakeLLMServer
) -> None:
    agent = await publish(api, spec(tools=[{"name": "write_file", "approval": True}]))
    name = f"cli-{uuid.uuid4().hex[:8]}"
    turns = [Turn(tool_calls=[call("write_file", path="a.txt", content="a")]), Turn(content="ok")]
    fake_llm.add_script(Script(name=name, turns=turns))
    task = await start(api, agent, f"script:{name}")
    await wait_status(api, task["id"], "input_required")
    rejected = await cape(
        api.url, api.key, "tasks", "answer", task["id"], "reject", "--reason", "not now"
    )
    assert rejected.exit_code == 0, rejected.output
    first, *_ = rejected.stdout.splitlines()
    assert first.startswith("reject approval-") and "approve" not in first, rejected.stdout
    assert f"reject accepted for {task['id']}" in rejected.stdout


async def test_run_takes_a_whole_input_as_json(
    api: Api, worker: Worker, fake_llm: FakeLLMServer
) -> None:
    data = {"query": "how do I approve a tool call", "format": "steps"}
    bad = await cape(api.url, api.key, "run", "--agent", "cape-ai-guide", "--input", "[1]")
    assert bad.exit_code != 0 and "must be a JSON object" in bad.output
    missing = await cape(api.url, api.key, "run")
    assert missing.exit_code != 0 and "PROMPT or --input" in missing.output
    ran = await cape(
        api.url, api.key, "run", "--agent", "cape-ai-guide", "--input", json.dumps(data),
        "--model", "demo", "--no-follow", "--json",
    )  # fmt: skip
    assert ran.exit_code == 0, ran.output
    task = json.loads(ran.stdout)
    assert task["input"] == data and task["agent"] == "cape-ai-guide"
    await wait_task(api, task["id"])
