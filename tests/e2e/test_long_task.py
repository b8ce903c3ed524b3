"""Long tasks stay healthy: history by reference, continue-as-new, 500 steps under the limits."""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import Client

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Script, Turn
from tests.e2e.agent_support import publish, spec, stack, start
from tests.e2e.tooling import call, pretty, wait_task
from tests.harness import stored

MAX_EVENTS_PER_RUN = 10_000
MAX_BYTES_PER_RUN = 5 * 1024 * 1024


async def _runs(client: Client, task_id: str) -> list[tuple[int, int]]:
    """(events, bytes) of every run of the task's workflow, oldest first."""
    runs = []
    async for execution in client.list_workflows(f'WorkflowId = "{task_id}"'):
        history = await client.get_workflow_handle(task_id, run_id=execution.run_id).fetch_history()
        size = sum(event.ByteSize() for event in history.events)
        runs.append((execution.start_time, len(history.events), size))
    return [(events, size) for _, events, size in sorted(runs)]


def _turns(tool_turns: int) -> list[Turn]:
    # Each turn reads a file: a cheap tool whose content still travels to the model by reference.
    first = Turn(tool_calls=[call("write_file", path="n.txt", content="x" * 200)])
    reads = [Turn(tool_calls=[call("read_file", path="n.txt")]) for _ in range(tool_turns - 1)]
    return [first, *reads, Turn(content="finished")]


async def _check_steps(settings: Settings, task_id: str, expected: int) -> None:
    steps, events = await stored(settings, task_id)
    assert [s.step_no for s in steps] == list(range(1, expected + 1))
    assert all(s.status == "succeeded" for s in steps)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


async def test_a_task_continues_as_new_and_carries_its_state(
    client: Client, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    name = f"long-{uuid.uuid4().hex[:8]}"
    fake_llm.add_script(Script(name=name, turns=_turns(12)))
    async with stack(client, settings, history_events_limit=60) as api:
        agent = await publish(api, spec(limits={"max_steps": 50, "max_tokens": 10_000_000}))
        task = await start(api, agent, f"script:{name}")
        done = await wait_task(api, task["id"], timeout=120)
    assert done["status"] == "succeeded" and done["output"] == {"answer": "finished"}, pretty(done)
    runs = await _runs(client, task["id"])
    assert len(runs) >= 3, runs
    assert all(events < 120 for events, _ in runs), runs  # each run stopped near the limit
    await _check_steps(settings, task["id"], 1 + 12 * 2 + 1)
    assert done["usage"]["total_tokens"] > 0 and fake_llm.calls(name) == dict.fromkeys(range(13), 1)


@pytest.mark.timeout(600)
async def test_a_500_step_task_stays_under_the_history_limits(
    client: Client, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    name = f"long500-{uuid.uuid4().hex[:8]}"
    fake_llm.add_script(Script(name=name, turns=_turns(250)))
    async with stack(client, settings) as api:  # continue-as-new only when the server says so
        agent = await publish(api, spec(limits={"max_steps": 300}))
        task = await start(api, agent, f"script:{name}", max_steps=300)
        done = await wait_task(api, task["id"], timeout=270)
        if done["status"] == "running":  # GET .../wait waits at most 300 s per call
            done = await wait_task(api, task["id"], timeout=270)
    assert done["status"] == "succeeded", pretty(done)
    runs = await _runs(client, task["id"])
    summary = ", ".join(f"{events} events / {size} B" for events, size in runs)
    assert all(events < MAX_EVENTS_PER_RUN for events, _ in runs), summary
    assert all(size < MAX_BYTES_PER_RUN for _, size in runs), summary
    await _check_steps(settings, task["id"], 1 + 250 * 2 + 1)
    print(f"500-step task: {len(runs)} run(s): {summary}")
