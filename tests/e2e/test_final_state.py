"""What a task shows once it ended: its stream's end, its budgets, the Web UI's details (issue 12).

B1: the stream of a retried task ends at its final state, not at the old failure.
B2: a raised budget shows in the task's `limits` and `max_steps`.
B4: Temporal's current details (the Web UI's User Metadata) show the end, not the last step.
"""

from __future__ import annotations

import uuid

from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client
from temporalio.worker import Worker

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Fault, Script, Turn
from tests.cape.test_cli_tasks import cape
from tests.conftest import Api
from tests.e2e.agent_support import publish, spec, start, wait_status
from tests.e2e.test_tasks_api import read_ws
from tests.e2e.tooling import call, pretty, wait_task
from tests.harness import read_sse


def _model(fake_llm: FakeLLMServer, turns: list[Turn]) -> str:
    name = f"final-{uuid.uuid4().hex[:8]}"
    fake_llm.add_script(Script(name=name, turns=turns))
    return f"script:{name}"


async def _details(client: Client, task_id: str) -> str:
    handle = client.get_workflow_handle(task_id)
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return str(metadata.current_details)


async def test_a_retried_task_streams_to_its_final_state_not_its_old_failure(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, client: Client
) -> None:
    # Turn 0 answers 400 once (a non-retryable failure); after the retry it answers.
    model = _model(fake_llm, [Turn(content="second time lucky", faults=[Fault(status=400)])])
    task = await start(api, "assistant", model)
    failed = await wait_task(api, task["id"])
    assert failed["status"] == "failed", pretty(failed)
    assert "**failed**" in await _details(client, task["id"])  # B4 for a failure
    retried = await api.http.post(f"/v1/tasks/{task['id']}/retry")
    assert retried.status_code == 202, retried.text
    done = await wait_task(api, task["id"])
    assert done["status"] == "succeeded", pretty(done)

    sse = await read_sse(api.http, f"/v1/tasks/{task['id']}/events", limit=60)
    types = [m["data"]["type"] for m in sse if "id" in m]
    assert "task-failed" in types and types[-1] == "task-succeeded", types
    assert sse[-1]["event"] == "end", sse[-1]
    assert sse[-1]["data"]["data"]["status"] == "succeeded", sse[-1]
    ws = api.url.replace("http://", "ws://", 1) + f"/v1/tasks/{task['id']}/ws"
    messages = await read_ws(f"{ws}?access_token={api.key}")
    assert messages[-1]["type"] == "end" and messages[-1]["data"]["status"] == "succeeded"

    followed = await cape(api.url, api.key, "tasks", "follow", task["id"])
    assert followed.exit_code == 0, followed.output
    lines = followed.stdout.rstrip().splitlines()
    assert lines[-1] == "second time lucky" and lines[-2].startswith("succeeded"), lines


async def test_a_raised_budget_shows_in_the_task_and_the_details_show_the_end(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings, client: Client
) -> None:
    agent = await publish(api, spec(limits={"max_steps": 50, "max_tokens": 10**6}))
    turns = [
        Turn(tool_calls=[call("write_file", path="a.txt", content="a")]),
        Turn(tool_calls=[call("write_file", path="b.txt", content="b")]),
        Turn(content="done"),
    ]
    task = await start(api, agent, _model(fake_llm, turns), max_steps=1, max_tokens=10**5)
    pending = (await wait_status(api, task["id"], "input_required"))["pending_input"]
    assert pending["exceeded"] == "max_steps", pending
    answer = {
        "request_id": pending["id"],
        "action": "raise",
        "max_steps": 10,
        "max_tokens": 200_000,
    }
    raised = await api.http.post(f"/v1/tasks/{task['id']}/input", json=answer)
    assert raised.status_code == 200, raised.text
    done = await wait_task(api, task["id"])
    assert done["status"] == "succeeded", pretty(done)
    assert done["max_steps"] == 10, pretty(done)
    assert done["limits"]["max_steps"] == 10 and done["limits"]["max_tokens"] == 200_000, done
    assert done["limits"]["max_cost"] is None  # what was not raised stays as it was

    details = await _details(client, task["id"])
    assert details.startswith("**succeeded** · after step"), details
    assert "running" not in details and f"tokens: {done['usage']['total_tokens']}" in details
