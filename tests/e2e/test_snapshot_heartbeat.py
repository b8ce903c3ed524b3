"""A snapshot of many files keeps its step heartbeating (issue 11, class 4).

25,000 small files take several seconds to archive, longer than the short heartbeat timeout
set here (2 s): without heartbeats the step timed out and ran again until the task failed.
"""

from __future__ import annotations

import pytest
from temporalio.worker import Worker

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Turn
from tests.conftest import Api
from tests.e2e.test_workspace_snapshots import snapshot_sizes
from tests.e2e.tooling import call, pretty, run_task
from tests.harness import stored

MANY_FILES = (
    'python3 -c "import os\n'
    "for d in range(50):\n"
    "    os.makedirs(f'many/d{d}')\n"
    "    for i in range(500):\n"
    "        open(f'many/d{d}/f{i}.txt', 'w').write(f'{d} {i}')\n"
    "print('made')\""
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"heartbeat_timeout_seconds": 2.0})


async def test_snapshotting_many_files_heartbeats(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    turns = [
        Turn(tool_calls=[call("shell", command=MANY_FILES)]),
        Turn(content="done"),
    ]
    task = await run_task(api, fake_llm, turns, timeout=240)
    assert task["status"] == "succeeded", pretty(task)
    steps, events = await stored(settings, task["id"])
    tool = next(s for s in steps if s.kind == "tool")
    assert tool.attempt == 1 and tool.output["snapshot"], pretty(tool.output)
    assert not [e for e in events if e.type == "step-retrying"], pretty([e.data for e in events])
    sizes = await snapshot_sizes(api, task["id"])
    assert f"snapshot-step-{tool.step_no}.tar.gz" in sizes, sizes
