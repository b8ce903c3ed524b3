"""Two worker hosts, one SIGKILLed for good: its tasks' workspaces move to the other host.

Two `cape worker` processes with their own CAPE_HOST_ID and data dir share the task queue and
the artifact store. Host A takes the first tasks' workspaces alone, then B joins; A is killed
while every task is in its first LLM turn and never comes back. Tool steps bound to A's queue
time out (host_timeout_seconds=3), the workflow restores the last snapshot on B
(`workspace-restored`) and the task goes on: every task succeeds, nothing is lost.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from cape.db.models import TaskEvent, TaskStep
from cape.settings import Settings
from cape.testing.fake_llm import FakeLLMServer
from tests.chaos.support import Tally, audit, fleet, rng, wait_count, wait_terminal
from tests.conftest import Api
from tests.e2e.test_crash import KINDS, start_tasks, two_files_script
from tests.e2e.test_workspace_failover import on_host

pytestmark = pytest.mark.timeout(150)
TASKS = 12


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(
        update={"host_timeout_seconds": 3.0, "artifact_dir": tmp_path / "shared-artifacts"}
    )


def workspace_host(steps: list[TaskStep]) -> str:
    """The host that set the task's workspace up (its first step)."""
    output = steps[0].output or {}
    return str(output.get("host"))


def restores(events: list[TaskEvent]) -> list[TaskEvent]:
    return [e for e in events if e.type == "workspace-restored" and "lost_host" in e.data]


async def test_tasks_of_a_dead_host_fail_over_to_the_other(
    api: Api, fake_llm: FakeLLMServer, settings: Settings, tmp_path: Path
) -> None:
    chance = rng("two-workers")
    names = [f"host-{i}-{uuid.uuid4().hex[:6]}" for i in range(TASKS)]
    for name in names:
        first, last = round(chance.uniform(3.0, 4.0), 2), round(chance.uniform(0.5, 1.0), 2)
        fake_llm.add_script(two_files_script(name, first_delay=first, last_delay=last))
    a, b = on_host(settings, "host-a", tmp_path), on_host(settings, "host-b", tmp_path)
    tally = Tally("two-workers")
    with fleet(tmp_path) as procs:
        procs.start("host-a", "worker", a)
        half = TASKS // 2
        ids = await start_tasks(api, names[:half], 0.02)
        await wait_count(settings, ids, "step-finished", half, "host A's workspaces")
        procs.start("host-b", "worker", b)
        ids += await start_tasks(api, names[half:], 0.02)
        # Every workspace is set up and every task waits in its first LLM turn.
        await wait_count(settings, ids, "step-finished", TASKS, "every workspace")
        procs.kill("host-a")
        tally.faults += 1
        await wait_terminal(settings, ids)
        assert procs.alive("host-b"), procs.tails()
    by_task = await audit(settings, ids, None, tally)
    on_a = 0
    for task_id, (steps, events) in by_task.items():
        moved = restores(events)
        host = workspace_host(steps) if steps else "?"
        # A dead host's task gets one restore step, on B; the tool step that found the host
        # gone keeps its number (3) and runs after it.
        kinds = list(KINDS)
        if host == "host-a":
            on_a += 1
            kinds.insert(3, "workspace")
            ok = [(e.data["lost_host"], e.data["host"]) for e in moved] == [("host-a", "host-b")]
        else:
            ok = not moved
        if [s.kind for s in steps] != kinds or not ok:
            tally.problems.setdefault(task_id, []).append(
                f"workspace on {host}: kinds {[s.kind for s in steps]}, restores "
                f"{[e.data for e in moved]}"
            )
    tally.lost = len(tally.problems)
    tally.extra["workspaces_on_dead_host"] = on_a
    tally.extra["failovers"] = sum(len(restores(events)) for _, events in by_task.values())
    message = tally.report()
    assert tally.lost == 0, message
    assert on_a >= TASKS // 2, message
