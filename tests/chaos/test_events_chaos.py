"""200 events published while the API and the worker are SIGKILLed: none lost, none doubled.

The API and the worker are real `cape api` / `cape worker` subprocesses. Ten clients publish
200 events, each with its own dedupe_key and retrying on any failure (a killed API answers
nothing); the API is killed twice and the worker once while events are being routed, each
started again. The API's reconciler starts the routing of events stored before a kill cut
their start. In the end every event is stored once and routed, and started exactly one task.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from cape.db.engine import create_engine, session_factory
from cape.db.event_models import Event, EventRoute
from cape.db.models import Task
from cape.settings import Settings
from tests.chaos.support import LIMIT, Tally, chaos_settings, fleet, rng
from tests.e2e.agent_support import spec
from tests.harness import free_port, new_api_key, wait_http, wait_until

pytestmark = pytest.mark.timeout(240)
EVENTS = 200
CLIENTS = 10
# (events stored, which process dies): the API twice, the worker once mid-routing
KILLS = ((50, "api"), (100, "worker"), (150, "api"))


async def publish_until_stored(http: httpx.AsyncClient, key: str, i: int) -> str:
    """Publish with `key` until the API answers with the event (a retry finds the same one)."""
    body = {"type": "chaos.tick", "data": {"i": i}, "dedupe_key": key}
    async with asyncio.timeout(LIMIT):
        while True:
            try:
                sent = await http.post("/v1/events", json=body)
                if sent.status_code in (200, 202):
                    return str(sent.json()["id"])
            except httpx.TransportError:
                pass  # the API is down: try again
            await asyncio.sleep(0.2)


async def test_events_survive_api_and_worker_kills(
    client: Client, settings: Settings, tmp_path: Path
) -> None:
    chance = rng("events")
    owner = f"chaos-ev-{uuid.uuid4().hex[:8]}"
    tuned = chaos_settings(settings, api_port=free_port())
    # The reconciler routes events whose start a kill cut short (quickly, for the test).
    api_settings = tuned.model_copy(
        update={"reconcile_interval_seconds": 1.0, "reconcile_grace_seconds": 3.0,
                "workflow_start_timeout_seconds": 2.0}
    )  # fmt: skip
    base = f"http://127.0.0.1:{api_settings.api_port}"
    headers = {"Authorization": f"Bearer {await new_api_key(settings, owner=owner)}"}
    tally = Tally("events")
    keys = [f"k-{uuid.uuid4().hex}" for _ in range(EVENTS)]
    with fleet(tmp_path) as procs:
        procs.start("worker", "worker", tuned)
        procs.start("api", "api", api_settings)
        await wait_http(f"{base}/healthz", LIMIT)
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as http:
            made = await http.post(
                "/v1/agents", params={"publish": "true"},
                json=spec(triggers=[{"event": "chaos.*", "input": {"prompt": "{{ event.id }}"}}]),
            )  # fmt: skip
            assert made.status_code == 201, made.text
            stored: dict[str, str] = {}
            queue = list(enumerate(keys))

            async def publisher() -> None:
                while queue:
                    i, key = queue.pop(0)
                    stored[key] = await publish_until_stored(http, key, i)

            publishing = [asyncio.create_task(publisher()) for _ in range(CLIENTS)]
            for count, name in KILLS:

                async def reached(count: int = count) -> bool:
                    return len(stored) >= count

                await wait_until(reached, f"{count} events stored", LIMIT, 0.05)
                await asyncio.sleep(chance.uniform(0.0, 0.3))
                procs.kill(name)
                tally.faults += 1
                await asyncio.sleep(chance.uniform(0.2, 1.0))
                procs.start(name, name, api_settings if name == "api" else tuned)
            await asyncio.gather(*publishing)
        engine = create_engine(settings)
        sessions = session_factory(engine)
        ids = list(stored.values())

        async def all_routed() -> bool:
            async with sessions() as session:
                pending = await session.scalar(
                    select(func.count()).select_from(Event)
                    .where(Event.id.in_(ids), Event.status == "pending")
                )  # fmt: skip
            return pending == 0

        await wait_until(all_routed, "every event routed", LIMIT * 2, 0.5)
        async with sessions() as session:
            events = list(await session.scalars(select(Event).where(Event.id.in_(ids))))
            routes = list(
                await session.scalars(select(EventRoute).where(EventRoute.event_id.in_(ids)))
            )
            tasks = list(await session.scalars(select(Task).where(Task.event_id.in_(ids))))
        await engine.dispose()
        # Each task's workflow is started, once (its id is derived). "Routed" is the routing
        # activity's commit and the routing workflow starts the tasks after it: a worker killed
        # in between starts them when the workflow task is retried, so wait (fleet still up).
        unstarted = {task.id for task in tasks}

        async def all_started() -> bool:
            for task_id in sorted(unstarted):
                try:
                    described = await client.get_workflow_handle(task_id).describe()
                except RPCError as error:
                    if error.status != RPCStatusCode.NOT_FOUND:
                        raise
                    return False
                assert described.id == task_id
                unstarted.discard(task_id)
            return True

        await wait_until(all_started, "every task's workflow started", LIMIT, 0.5)
    tally.tasks = len(tasks)
    by_event: dict[str, int] = {}
    for task in tasks:
        by_event[task.event_id or ""] = by_event.get(task.event_id or "", 0) + 1
    for event in events:
        if event.status != "routed" or by_event.get(event.id) != 1:
            tally.problems[event.id] = [f"{event.status}: {by_event.get(event.id, 0)} tasks"]
    tally.lost = EVENTS - len(events) + len(tally.problems)
    tally.extra["routes"] = len(routes)
    tally.extra["api_starts"] = procs.started["api"]
    tally.extra["worker_starts"] = procs.started["worker"]
    message = tally.report()
    assert len(set(stored.values())) == EVENTS == len(events), message
    assert tally.lost == 0 and len(routes) == len(tasks) == EVENTS, message
    assert tally.faults == len(KILLS), message
