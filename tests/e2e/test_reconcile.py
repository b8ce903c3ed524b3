"""The API's reconciler and cancel, when a task row and its workflow disagree.

Rows are written without a workflow (what an API killed between its commit and its workflow
start leaves) and workflows are terminated through the Temporal client (as an operator, or an
escaped tool, can); the outcome is judged from the rows and from Temporal itself.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from api.admin.reconcile import Reconcile
from cape.db.engine import create_engine, session_factory
from cape.db.models import Task
from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Script, Turn
from tests.conftest import Api
from tests.e2e.reconcile_support import insert_rows, new_row, own_database, rows_of
from tests.e2e.test_resume import slow_script, start_named_task
from tests.harness import stored, wait_until
from worker.group import WorkerGroup

LIMIT = 60.0
TRIES = 8  # cancels right after the start: the race of a lost cancellation, several times


@pytest.fixture
def reconcile_interval() -> float:
    """The reconciler's timer in these tests (a test sets 0 to see cancel repair alone)."""
    return 0.5


@pytest.fixture
async def settings(
    settings: Settings, tmp_path: Path, reconcile_interval: float
) -> AsyncIterator[Settings]:
    """A database of the test's own, and a reconciler with a short timer and grace period."""
    tuned = settings.model_copy(
        update={
            "reconcile_interval_seconds": reconcile_interval,
            "reconcile_grace_seconds": 1.0,
            "workflow_start_timeout_seconds": 0.5,
        }
    )
    async with own_database(tuned, tmp_path / "own-db") as mine:
        yield mine


def answer_script(fake_llm: FakeLLMServer) -> str:
    name = f"reconcile-{uuid.uuid4().hex[:8]}"
    fake_llm.add_script(Script(name=name, turns=[Turn(content=f"done {name}")]))
    return f"script:{name}"


async def workflow_status(client: Client, task_id: str) -> WorkflowExecutionStatus | None:
    """The workflow's status in Temporal, or None when Temporal has no such workflow."""
    try:
        return (await client.get_workflow_handle(task_id).describe()).status
    except RPCError as exc:
        assert exc.status == RPCStatusCode.NOT_FOUND, exc
        return None


async def until_workflow(client: Client, task_id: str, status: WorkflowExecutionStatus) -> None:
    """Wait until the workflow closes as `status` (its row is written just before it closes)."""

    async def reached() -> bool:
        return await workflow_status(client, task_id) == status

    await wait_until(reached, f"workflow {task_id} to be {status.name}", LIMIT, 0.1)


async def until_status(settings: Settings, task_id: str, *statuses: str) -> Task:
    async def reached() -> Task | None:
        row = (await rows_of(settings, [task_id]))[task_id]
        return row if row.status in statuses else None

    return await wait_until(reached, f"task {task_id} to become {statuses}", LIMIT, 0.1)


async def running_task(api: Api, fake_llm: FakeLLMServer, settings: Settings) -> str:
    """A task that sits in a slow LLM step (its row says running)."""
    name = f"slow-{uuid.uuid4().hex[:8]}"
    fake_llm.add_script(slow_script(name, 3.0))
    task_id = await start_named_task(api.http, name)
    await until_status(settings, task_id, "running")
    return task_id


async def test_reconciler_starts_a_queued_row_and_fails_rows_nothing_can_run(
    worker: WorkerGroup, api: Api, client: Client, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    queued = new_row(model=answer_script(fake_llm), age=timedelta(0))
    running = new_row(status="running")
    stale = new_row(age=timedelta(days=2))
    await insert_rows(settings, queued, running, stale)

    done = await until_status(settings, queued.id, "succeeded")
    assert done.output == {"answer": f"done {queued.model.removeprefix('script:')}"}
    await until_workflow(client, queued.id, WorkflowExecutionStatus.COMPLETED)
    for row in (running, stale):
        failed = await until_status(settings, row.id, "failed")
        assert failed.error is not None and failed.error["type"] == "WorkflowMissing"
        assert await workflow_status(client, row.id) is None  # nothing was started for it
        _, events = await stored(settings, row.id)
        assert events[-1].type == "task-failed"
    ready = (await api.http.get("/readyz")).json()
    assert ready["reconciler"]["repaired"] == {"start": 1, "fail": 2}, ready


async def test_reconciler_closes_the_row_of_a_terminated_workflow(
    worker: WorkerGroup, api: Api, client: Client, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    task_id = await running_task(api, fake_llm, settings)
    await client.get_workflow_handle(task_id).terminate(reason="stopped by an operator")

    row = await until_status(settings, task_id, "failed", "canceled")
    assert row.status == "failed" and row.error is not None
    assert row.error["type"] == "WorkflowTerminated"
    assert "stopped by an operator" in row.error["message"]
    steps, events = await stored(settings, task_id)
    assert events[-1].type == "task-failed"
    assert all(s.status not in ("queued", "running", "retrying") for s in steps)
    cancel = await api.http.post(f"/v1/tasks/{task_id}/cancel")
    assert cancel.status_code == 409, cancel.text
    assert "already ended as failed" in cancel.json()["error"]["message"]


@pytest.mark.parametrize("reconcile_interval", [0.0])
async def test_cancel_of_a_terminated_workflow_says_how_it_ended(
    worker: WorkerGroup, api: Api, client: Client, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    # Issue 11: the row stayed `running` for ever and cancel answered 503 without effect.
    task_id = await running_task(api, fake_llm, settings)
    await client.get_workflow_handle(task_id).terminate(reason="escaped tool")

    cancel = await api.http.post(f"/v1/tasks/{task_id}/cancel")
    assert cancel.status_code == 409, cancel.text
    error = cancel.json()["error"]
    assert "terminated" in error["message"] and "escaped tool" in error["message"], error
    assert error["details"]["status"] == "failed"
    row = (await rows_of(settings, [task_id]))[task_id]
    assert row.status == "failed" and row.error is not None
    assert row.error["reason"] == "escaped tool"
    again = await api.http.post(f"/v1/tasks/{task_id}/cancel")
    assert again.status_code == 409 and "already ended as failed" in again.text


@pytest.mark.parametrize("reconcile_interval", [0.0])
async def test_cancel_of_a_row_whose_workflow_never_started(
    worker: WorkerGroup, api: Api, client: Client, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    recent = [new_row(model=answer_script(fake_llm)) for _ in range(TRIES)]
    stale = new_row(age=timedelta(days=2))
    await insert_rows(settings, stale, *recent)

    # A recent one is started and canceled at once, so the cancellation often lands while its
    # workspace step runs (which does not heartbeat): it must not be lost when the step ends.
    for row in recent:
        cancel = await api.http.post(f"/v1/tasks/{row.id}/cancel")
        assert cancel.status_code == 202, cancel.text
    for row in recent:
        await until_workflow(client, row.id, WorkflowExecutionStatus.CANCELED)
        assert (await rows_of(settings, [row.id]))[row.id].status == "canceled"
    # One too old to start is canceled directly: nothing ever ran it.
    cancel = await api.http.post(f"/v1/tasks/{stale.id}/cancel")
    assert cancel.status_code == 202, cancel.text
    assert cancel.json()["status"] == "canceled"
    assert await workflow_status(client, stale.id) is None
    _, events = await stored(settings, stale.id)
    assert events[-1].type == "task-canceled"


@pytest.mark.parametrize("reconcile_interval", [0.0])
async def test_a_delegated_row_is_left_to_its_running_parent_and_failed_once_it_ended(
    worker: WorkerGroup, api: Api, client: Client, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    # The parent's workflow starts a delegated row as its child (docs/multi-agent.md): the
    # reconciler must not start it as a task of its own, even after the grace period.
    parent = await running_task(api, fake_llm, settings)
    child = new_row(parent_id=parent, relation="delegated")
    await insert_rows(settings, child)
    engine = create_engine(settings)
    try:
        sessions = session_factory(engine)
        reconcile = Reconcile(settings, client, sessions, sessions)
        assert await reconcile.check_row(child) is None
        await client.get_workflow_handle(parent).terminate(reason="the parent ends")
        found = await reconcile.check_row(child)
        assert found is not None and found.action == "fail", found
        assert "its delegating task ended before starting it" in found.reason
        await reconcile.repair([found])
    finally:
        await engine.dispose()
    failed = await until_status(settings, child.id, "failed")
    assert failed.error is not None and failed.error["type"] == "WorkflowMissing"
    assert await workflow_status(client, child.id) is None  # never started as an orphan
