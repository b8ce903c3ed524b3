"""Snapshots through the real workflow: incremental and bounded (issue 11, class 4)."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.worker import Worker

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Turn
from tests.conftest import Api
from tests.e2e.tooling import call, events_of, pretty, results, run_task, tool_steps


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"workspace_snapshot_max_files": 1000})


async def snapshot_sizes(api: Api, task_id: str) -> dict[str, int]:
    listed = (await api.http.get(f"/v1/tasks/{task_id}/artifacts")).json()
    items: list[dict[str, Any]] = listed["items"] if isinstance(listed, dict) else listed
    return {a["name"]: a["size"] for a in items if str(a["name"]).startswith("snapshot-")}


async def test_a_no_op_step_after_a_large_workspace_stores_no_second_full_snapshot(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    turns = [
        Turn(tool_calls=[call("shell", command="head -c 20000000 /dev/urandom > big.bin")]),
        Turn(tool_calls=[call("shell", command="true")]),
        Turn(tool_calls=[call("python", code="print('still nothing written')")]),
        Turn(content="done"),
    ]
    task = await run_task(api, fake_llm, turns, timeout=180)
    assert task["status"] == "succeeded", pretty(task)
    steps = await tool_steps(settings, task["id"])
    numbers = [s.step_no for s in steps]
    sizes = await snapshot_sizes(api, task["id"])
    big, *later = (sizes[f"snapshot-step-{n}.tar.gz"] for n in numbers)
    assert big > 19_000_000, sizes
    assert all(size < 200_000 for size in later), sizes
    assert sum(sizes.values()) < big + 1_000_000, sizes


async def test_a_workspace_over_the_snapshot_bounds_is_not_stored_and_the_model_is_told(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    turns = [
        Turn(tool_calls=[call("shell", command="mkdir m && cd m && touch $(seq 1 2000)")]),
        Turn(content="done"),
    ]
    task = await run_task(api, fake_llm, turns)
    assert task["status"] == "succeeded", pretty(task)
    (result,) = results(await events_of(settings, task["id"], "tool-result"))
    assert result["ok"] and "not snapshotted" in result["content"], result
    assert "CAPE_WORKSPACE_SNAPSHOT_MAX_FILES" in result["content"], result
    (tool,) = await tool_steps(settings, task["id"])
    assert "snapshot" not in tool.output, pretty(tool.output)
