"""A parent that continues as new still knows the task it delegated without wait.

The child waits for an approval while the parent works on and continues as new (a short
history limit); canceling the parent in its next run cancels the child it carried over.
"""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Turn
from tests.conftest import Api
from tests.e2e.delegation_support import agent, create, ids, script, until_status
from tests.e2e.tooling import call, events_of, pretty, results, wait_task
from tests.harness import wait_until

READS = 10


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"history_events_limit": 60})


async def test_a_detached_child_is_carried_across_continue_as_new_and_canceled_with_its_parent(
    api: Api, worker: Worker, client: Client, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    write = Turn(tool_calls=[call("write_file", path="c.txt", content="c")])
    approval = [{"name": "write_file", "approval": True}]
    asker = await agent(api, script(fake_llm, [write, Turn(content="never")]), approval)
    key = f"dlg-{uuid.uuid4().hex}"
    parent, (child,) = ids(key, 3)
    reads = [Turn(tool_calls=[call("list_files", path=".")]) for _ in range(READS)]
    turns = [
        Turn(tool_calls=[call("delegate", agent=asker, input="c", wait=False)]),
        *reads,
        Turn(tool_calls=[call("await_task", task_id=child, timeout_seconds=600)]),
        Turn(content="never reached"),
    ]
    model = script(fake_llm, turns)
    manager = await agent(api, model, ["delegate", "await_task", "list_files"])
    await create(api, manager, key)
    await until_status(api, child, "input_required")

    async def awaiting() -> bool:  # the await_task turn was asked for: the parent waits on it
        return fake_llm.calls(model.removeprefix("script:")).get(READS + 1, 0) > 0

    await wait_until(awaiting, "the parent's await_task", 60, 0.1)
    runs = [w async for w in client.list_workflows(f'WorkflowId = "{parent}"')]
    assert len(runs) >= 2, runs  # it continued as new after delegating
    assert (await api.http.post(f"/v1/tasks/{parent}/cancel")).status_code == 202
    done = await wait_task(api, parent)
    assert done["status"] == "canceled", pretty(done)
    ended = await wait_task(api, child)
    assert ended["status"] == "canceled", pretty(ended)  # the carried-over child, canceled too
    first = results(await events_of(settings, parent, "tool-result"))[0]
    assert first["ok"] and f"started delegated task {child}" in first["content"]
