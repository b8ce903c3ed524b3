"""Two worker hosts, one SIGKILLed for good: its tasks' workspaces move to the other host.

Two `cape worker` processes with their own CAPE_HOST_ID and data dir share the task queue and
the artifact store. Host A takes the first tasks' workspaces alone, then B joins; A is killed
once every workspace is set up (the tasks wait in a 5-6 s first LLM turn) and never comes
back. Tool steps bound to A's queue time out (host_timeout_seconds=3), the workflow restores
the last snapshot on B (`workspace-restored`) and the task goes on: every task succeeds. A
workspace A stored but was killed before reporting is set up again on B by Temporal's retry,
which restores A's snapshot there at once (the step's output names both hosts).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from cape.db.models import TaskEvent, TaskStep
from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer
from tests.chaos.support import Tally, audit, fleet, rng, wait_count, wait_terminal
from tests.conftest import Api
from tests.e2e.test_crash import KINDS, snapshots, start_tasks, two_files_script
from tests.e2e.test_workspace_failover import on_host

pytestmark = pytest.mark.timeout(150)
TASKS = 12


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(
        update={"host_timeout_seconds": 3.0, "artifact_dir": tmp_path / "shared-artifacts"}
    )


def workspace_host(steps: list[TaskStep]) -> str:
    """The host that set the task's workspace up (its first step), moved or not since."""
    output = steps[0].output or {}
    return str(output.get("lost_host", output.get("host")))


def setup_moved(steps: list[TaskStep]) -> bool:
    """A set up stored on A whose result A never reported: Temporal ran it again on B."""
    return bool(steps) and "lost_host" in (steps[0].output or {})


def restores(events: list[TaskEvent]) -> list[TaskEvent]:
    return [e for e in events if e.type == "workspace-restored" and "lost_host" in e.data]


async def test_tasks_of_a_dead_host_fail_over_to_the_other(
    api: Api, fake_llm: FakeLLMServer, settings: Settings, tmp_path: Path
) -> None:
    chance = rng("two-workers")
    names = [f"host-{i}-{uuid.uuid4().hex[:6]}" for i in range(TASKS)]
    for name in names:
        first, last = round(chance.uniform(5.0, 6.0), 2), round(chance.uniform(0.5, 1.0), 2)
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
        # What A had finished is all in the database now: its open transactions died with it.
        async with snapshots(settings, ids) as read:
            at_kill = await read()
        last_tool = len(KINDS) - 1
        tools_done = {
            e.task_id
            for e in at_kill.events
            if e.type == "step-finished" and e.step_no == last_tool
        }
        await wait_terminal(settings, ids)
        assert procs.alive("host-b"), procs.tails()
    by_task = await audit(settings, ids, None, tally)
    on_a = 0
    for task_id, (steps, events) in by_task.items():
        moved = restores(events)
        host = workspace_host(steps) if steps else "?"
        on_a += host == "host-a"
        # A task of the dead host with a tool step still to run gets one restore step, on B,
        # numbered after the tool step that found the host gone (which keeps its number).
        kinds = [s.kind for s in steps]
        if setup_moved(steps):  # moved by its first step: no restore step, one event
            ok = [(e.data["lost_host"], e.data["host"]) for e in moved] == [("host-a", "host-b")]
            ok = ok and kinds == KINDS
        elif host == "host-a" and task_id not in tools_done:
            ok = [(e.data["lost_host"], e.data["host"]) for e in moved] == [("host-a", "host-b")]
            at = next((i for i, s in enumerate(steps) if s.name == "workspace: restore"), 0)
            ok = ok and kinds[at - 1] == "tool" and kinds[:at] + kinds[at + 1 :] == KINDS
        else:
            ok = not moved and kinds == KINDS
        if not ok:
            tally.problems.setdefault(task_id, []).append(
                f"workspace on {host}: kinds {[s.kind for s in steps]}, restores "
                f"{[e.data for e in moved]}"
            )
    tally.lost = len(tally.problems)
    tally.extra["workspaces_on_dead_host"] = on_a
    tally.extra["done_with_tools_at_kill"] = len(tools_done)
    tally.extra["failovers"] = sum(len(restores(events)) for _, events in by_task.values())
    message = tally.report()
    assert tally.lost == 0, message
    assert on_a >= TASKS // 2 and tally.extra["failovers"] >= 1, message
