"""A workspace step stored on one host whose result never reached the workflow.

The host's worker died between committing the step and reporting it, so Temporal runs the
step again, here on host B. B must not return host A's stored result as its own (the workflow
would send the task's tools to B's queue while the rows say A) nor wait for A: it restores the
step's snapshot, and the row and the event log say the workspace moved.

The activities run through Temporal's `ActivityEnvironment` (attempt 2 on B), on the real
database, artifact store and workspace code of two hosts.
"""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from activities.task import TaskActivities, host_queue
from activities.types import RestoreInput, StepRef, WorkspaceInput
from cape.artifacts import ArtifactStore
from cape.db.engine import create_engine, session_factory
from cape.db.models import Task
from cape.domain import StepKind
from cape.sandbox.launcher import Sandbox
from cape.settings import Settings
from tests.harness import stored


@pytest.fixture
def hosts(database_url: str, tmp_path: Path) -> tuple[Settings, Settings]:
    shared = {"database_url": database_url, "artifact_dir": tmp_path / "shared-artifacts"}
    return (
        Settings(host_id="host-a", data_dir=tmp_path / "a", **shared),  # type: ignore[arg-type]
        Settings(host_id="host-b", data_dir=tmp_path / "b", **shared),  # type: ignore[arg-type]
    )


class Host:
    """One host's `TaskActivities`, run as Temporal would with a given attempt number."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = create_engine(settings)
        self.sessions = session_factory(self.engine)
        store = ArtifactStore(self.sessions, settings.artifact_root)
        self.tasks = TaskActivities(self.sessions, settings, Sandbox(settings), store)

    def env(self, attempt: int) -> ActivityEnvironment:
        env = ActivityEnvironment()
        env.info = dataclasses.replace(env.info, attempt=attempt)
        return env


async def _new_task(host: Host) -> str:
    task_id = f"lost-{uuid.uuid4().hex[:12]}"
    async with host.sessions.begin() as session:
        session.add(
            Task(id=task_id, agent="a", agent_version="1", owner="o", team_id="team_lost",
                 status="queued", input={}, model="m", max_steps=5)
        )  # fmt: skip
    return task_id


async def test_a_setup_whose_result_was_lost_moves_the_workspace_to_the_host_running_it(
    hosts: tuple[Settings, Settings],
) -> None:
    a, b = Host(hosts[0]), Host(hosts[1])
    try:
        task_id = await _new_task(a)
        ref = StepRef(task_id, 1, "workspace", StepKind.WORKSPACE)
        inp = WorkspaceInput(ref, "notes", "what the task is about")
        first = await a.env(1).run(a.tasks.setup_workspace, inp)
        assert first.task_queue == host_queue(a.settings)
        # A dies here: its result never reaches Temporal, which runs attempt 2 on B.
        again = await b.env(2).run(b.tasks.setup_workspace, inp)
        assert again.task_queue == host_queue(b.settings) and again.host == "host-b"
        assert again.snapshot == first.snapshot
        moved = b.settings.workspace_root / task_id
        assert sorted(p.name for p in moved.iterdir()) == sorted(
            p.name for p in Path(first.path).iterdir()
        )
        steps, events = await stored(a.settings, task_id)
        assert [(s.step_no, s.status, s.attempt) for s in steps] == [(1, "succeeded", 1)]
        assert steps[0].output == {
            "path": "/workspace", "host": "host-b", "snapshot": first.snapshot,
            "lost_host": "host-a",
        }  # fmt: skip
        types = [(e.type, e.step_no) for e in events]
        assert types == [
            ("task-started", None), ("step-started", 1), ("step-finished", 1),
            ("workspace-restored", None),
        ], types  # fmt: skip
        note = events[-1].data
        assert note["lost_host"] == "host-a" and note["host"] == "host-b" and note["step"] == 1
        assert "never reached the workflow" in note["reason"]
        # B's own result lost as well: a third run on B finds the step B's and redoes nothing.
        third = await b.env(3).run(b.tasks.setup_workspace, inp)
        assert third == again
        assert len((await stored(a.settings, task_id))[1]) == len(events)
    finally:
        await a.engine.dispose()
        await b.engine.dispose()


async def test_a_restore_whose_result_was_lost_is_restored_again_where_it_runs(
    hosts: tuple[Settings, Settings],
) -> None:
    a, b = Host(hosts[0]), Host(hosts[1])
    try:
        task_id = await _new_task(a)
        setup = WorkspaceInput(StepRef(task_id, 1, "workspace", StepKind.WORKSPACE), "t", "d")
        first = await a.env(1).run(a.tasks.setup_workspace, setup)
        assert first.snapshot is not None
        # The workspace moves to A again by a restore (its host "host-c" was lost) ...
        ref = StepRef(task_id, 4, "workspace: restore", StepKind.WORKSPACE)
        restore = RestoreInput(ref, first.snapshot, "host-c")
        await a.env(1).run(a.tasks.restore_workspace, restore)
        # ... whose result is lost with A: attempt 2 on B restores it there.
        again = await b.env(2).run(b.tasks.restore_workspace, restore)
        assert again.task_queue == host_queue(b.settings)
        steps, events = await stored(a.settings, task_id)
        assert steps[-1].output is not None and steps[-1].output["host"] == "host-b"
        restored = [e.data for e in events if e.type == "workspace-restored"]
        assert [(d["lost_host"], d["host"]) for d in restored] == [
            ("host-c", "host-a"), ("host-a", "host-b")
        ]  # fmt: skip
        assert (b.settings.workspace_root / task_id).is_dir()
    finally:
        await a.engine.dispose()
        await b.engine.dispose()
