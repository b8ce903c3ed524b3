"""`cape doctor` and `/v1/admin/reconcile` list and repair rows that disagree with Temporal.

Task rows, and pending events whose routing workflow was never started. Where no worker runs,
started workflows stay running, so what each repair did is read from Temporal (describe) and
from the rows, not from the product's report.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from api.events.launch import start_routing
from cape.db.engine import create_engine, session_factory
from cape.db.event_models import Event
from cape.db.models import utcnow
from cape.events.ids import new_event_id
from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer
from tests.conftest import Api
from tests.e2e.reconcile_support import insert_rows, new_row, own_database, rows_of, start_for
from tests.e2e.test_reconcile import answer_script, until_workflow, workflow_status
from tests.events.support import routed, triggered_agent
from tests.harness import ROOT, new_api_key, running_api, settings_env, wait_until
from worker.group import WorkerGroup

LIMIT = 60.0


@pytest.fixture
async def settings(settings: Settings, tmp_path: Path) -> AsyncIterator[Settings]:
    """A database of the test's own; a short grace period (no timer: only explicit repairs)."""
    tuned = settings.model_copy(
        update={"reconcile_grace_seconds": 1.0, "workflow_start_timeout_seconds": 0.5}
    )
    async with own_database(tuned, tmp_path / "own-db") as mine:
        yield mine


def doctor(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `cape doctor` as a real process against the test's database and Temporal."""
    return subprocess.run(
        [sys.executable, "-m", "cli", "doctor", *args],
        env=settings_env(settings),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def findings(http: httpx.AsyncClient, count: int) -> dict[str, Any]:
    """GET the admin route until it lists `count` findings (rows pass the grace period)."""

    async def listed() -> dict[str, Any] | None:
        body: dict[str, Any] = (await http.get("/v1/admin/reconcile")).json()
        return body if len(body.get("findings", [])) >= count else None

    return await wait_until(listed, f"{count} findings", LIMIT, 0.2)


async def test_admin_route_and_doctor_list_and_repair_both_ways(
    api: Api, client: Client, settings: Settings
) -> None:
    phantom = new_row()  # queued, its workflow never started
    terminated = new_row(status="running")  # its workflow was terminated
    ended = new_row(status="succeeded", finished_at=new_row().created_at)  # workflow runs on
    others = new_row(owner="someone-else")  # another owner's phantom
    orphan = new_row()  # a workflow whose row was never stored
    await insert_rows(settings, phantom, terminated, ended, others)
    for row in (terminated, ended, orphan):
        await start_for(settings, client, row)
    await client.get_workflow_handle(terminated.id).terminate(reason="operator cleanup")

    # The caller's own tasks only: another owner's row is not shown.
    listed = await findings(api.http, 4)
    assert listed["scope"] == "team:team_tester"
    seen = {f["task_id"]: (f["kind"], f["action"]) for f in listed["findings"]}
    assert seen == {
        phantom.id: ("row-without-workflow", "start"),
        terminated.id: ("workflow-ended", "close"),
        orphan.id: ("workflow-without-row", "terminate"),
        ended.id: ("row-ended", "terminate"),
    }, listed
    repaired = (await api.http.post("/v1/admin/reconcile")).json()
    assert all(f["repaired"] for f in repaired["findings"]), repaired
    assert await workflow_status(client, phantom.id) == WorkflowExecutionStatus.RUNNING
    assert await workflow_status(client, orphan.id) == WorkflowExecutionStatus.TERMINATED
    assert await workflow_status(client, ended.id) == WorkflowExecutionStatus.TERMINATED
    rows = await rows_of(settings, [terminated.id, ended.id])
    assert rows[terminated.id].status == "failed" and rows[terminated.id].error is not None
    assert "operator cleanup" in rows[terminated.id].error["message"]
    assert rows[ended.id].status == "succeeded"  # an ended row is never reopened

    # `cape doctor` sees every owner: only the other owner's row is left.
    listing = await asyncio.to_thread(doctor, settings)
    assert listing.returncode == 1, listing.stdout + listing.stderr
    assert others.id in listing.stdout and "row-without-workflow" in listing.stdout
    assert phantom.id not in listing.stdout
    assert await workflow_status(client, others.id) is None  # listing repairs nothing
    repair = await asyncio.to_thread(doctor, settings, "--repair")
    assert repair.returncode == 0, repair.stdout + repair.stderr
    assert "1 repaired, 0 left" in repair.stdout
    assert await workflow_status(client, others.id) == WorkflowExecutionStatus.RUNNING
    clean = await asyncio.to_thread(doctor, settings)
    assert clean.returncode == 0 and "No disagreements." in clean.stdout, clean.stdout


async def test_admin_owners_see_every_owner(settings: Settings, client: Client) -> None:
    admin = settings.model_copy(update={"admin_owners": ["ops"]})
    others = new_row(owner="someone-else", age=timedelta(minutes=5))
    await insert_rows(admin, others)
    key = await new_api_key(admin, owner="ops")
    async with (
        running_api(admin) as url,
        httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as http,
    ):
        listed = await findings(http, 1)
    assert listed["scope"] == "all"
    assert [f["task_id"] for f in listed["findings"]] == [others.id]


@asynccontextmanager
async def silent_server() -> AsyncIterator[str]:
    """A TCP server that accepts and never answers: a Temporal that hangs."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.close()


async def test_a_post_whose_start_hangs_keeps_its_row_and_the_task_runs(
    worker: WorkerGroup, settings: Settings, client: Client, fake_llm: FakeLLMServer
) -> None:
    model = answer_script(fake_llm)
    async with silent_server() as address:
        hanging = settings.model_copy(update={"temporal_address": address})
        key = await new_api_key(hanging)
        async with (
            running_api(hanging) as url,
            httpx.AsyncClient(
                base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30
            ) as http,
        ):
            body = {"agent": "assistant", "input": {"prompt": "write"}, "model": model}
            created = await http.post("/v1/tasks", json=body, headers={"Idempotency-Key": "k1"})
    # A 5xx: the task either does not exist or runs. Here the start's outcome was unknown, so
    # the row is kept, named in the answer, and the repair (the reconciler's job) starts it.
    assert created.status_code == 503, created.text
    task_id = created.json()["error"]["details"]["task_id"]
    assert (await rows_of(settings, [task_id]))[task_id].status == "queued"
    await asyncio.sleep(settings.reconcile_grace_seconds)  # a fresh row is left to its POST
    repair = await asyncio.to_thread(doctor, settings, "--repair")
    assert repair.returncode == 0, repair.stdout + repair.stderr
    await until_workflow(client, task_id, WorkflowExecutionStatus.COMPLETED)
    assert (await rows_of(settings, [task_id]))[task_id].status == "succeeded"


async def stored_pending(settings: Settings, team: str, type_: str) -> str:
    """An event row written as `pending` without its routing workflow, past the grace period.

    What a publish cut off between its commit and its workflow start leaves behind.
    """
    engine = create_engine(settings)
    event = Event(
        id=new_event_id(), team_id=team, type=type_, data={}, priority="normal",
        published_by="x", occurred_at=utcnow(), status="pending", depth=0,
        published_at=utcnow() - timedelta(minutes=5),
    )  # fmt: skip
    async with session_factory(engine).begin() as session:
        session.add(event)
    await engine.dispose()
    return event.id


async def test_doctor_lists_and_routes_a_pending_event_once(
    api: Api, client: Client, settings: Settings, worker: WorkerGroup
) -> None:
    await triggered_agent(api.http, {"event": "lost.start"})
    team = (await api.http.get("/v1/teams")).json()[0]["id"]
    lost = await stored_pending(settings, team, "lost.start")
    elsewhere = await stored_pending(settings, "team_elsewhere", "nobody.listens")

    # The admin route: the caller's team's event only, with its age; listing repairs nothing.
    listed = (await api.http.get("/v1/admin/reconcile")).json()
    assert [e["event_id"] for e in listed["events"]] == [lost], listed
    [shown] = listed["events"]
    assert shown["action"] == "route" and shown["age_seconds"] >= 300 and not shown["repaired"]
    assert listed["left"] == 1 and listed["repaired"] == 0
    listing = await asyncio.to_thread(doctor, settings)
    assert listing.returncode == 1, listing.stdout + listing.stderr
    assert lost in listing.stdout and elsewhere in listing.stdout  # every team's
    assert await workflow_status(client, lost) is None

    repair = await asyncio.to_thread(doctor, settings, "--repair")
    assert repair.returncode == 0, repair.stdout + repair.stderr
    assert "2 repaired, 0 left" in repair.stdout, repair.stdout
    event = await routed(api.http, lost)
    assert event["status"] == "routed", event
    [route] = event["routes"]
    assert route["status"] == "started" and route["task_id"]
    assert await workflow_status(client, route["task_id"]) is not None  # its task started

    # Once routed nothing is listed; a late start (the timer, the cut-off publish) is refused.
    await start_routing(client, settings, lost, "normal")
    clean = await asyncio.to_thread(doctor, settings, "--repair")
    assert clean.returncode == 0 and "No disagreements." in clean.stdout, clean.stdout
    again = (await api.http.get(f"/v1/events/{lost}")).json()
    assert [r["task_id"] for r in again["routes"]] == [route["task_id"]]
    tasks = (await api.http.get("/v1/tasks", params={"limit": 100})).json()["items"]
    assert [t["id"] for t in tasks if t.get("event_id") == lost] == [route["task_id"]]
