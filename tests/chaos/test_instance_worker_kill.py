"""An instance fed 100 events while its worker is SIGKILLed runs each event's task once.

The worker is a real `cape worker` subprocess, killed once in the middle (a seeded moment after
some tasks ended) and started again. The instance continues as new several times on the way (a
short history limit), carrying its inbox and its tasks in flight. Every event ends with exactly
one task (its id derived from the instance and the event), each succeeded with its steps and
events recorded once, and one history entry per event.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from cape.contracts.instances import instance_task_id
from cape.db.engine import create_engine, readonly_session_factory
from cape.db.instance_models import InstanceHistory
from cape.db.models import Task
from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer
from tests.chaos.support import LIMIT, Tally, audit, fleet, rng, wait_terminal
from tests.conftest import Api
from tests.events.support import own_team
from tests.instances.support import agent, answering_model, instance

pytestmark = pytest.mark.timeout(300)
EVENTS = 100


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Continue-as-new every few dozen events; a dead worker's follow of a task moves on fast.
    return settings.model_copy(
        update={"instance_history_limit": 300, "instance_heartbeat_seconds": 1.0}
    )


async def test_a_killed_worker_runs_each_events_task_exactly_once(
    api: Api, settings: Settings, fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    chance = rng("instance-worker-kill")
    tally = Tally("instance-worker-kill")
    began = time.monotonic()
    with fleet(tmp_path) as procs:
        async with own_team(api, settings) as http:
            name = await agent(http, answering_model(fake_llm))
            made = await instance(http, name, max_concurrent=10)
            # Published before the worker starts (quicker), ten at a time.

            async def send(n: int) -> str:
                sent = await http.post("/v1/events", json={"type": "deploy.n", "data": {"n": n}})
                assert sent.status_code == 202, sent.text
                return str(sent.json()["id"])

            events: list[str] = []
            for first in range(0, EVENTS, 10):
                events += await asyncio.gather(*(send(n) for n in range(first, first + 10)))
            tally.extra["published_at"] = int(time.monotonic() - began)
            procs.start("worker", "worker", settings)  # routes the events, then runs the tasks
            ends = time.monotonic() + LIMIT
            kill_after = chance.randint(15, 40)
            while (await saved(http, made["id"]))["counters"]["succeeded"] < kill_after:
                assert time.monotonic() < ends, "the instance made no progress"
                await asyncio.sleep(0.1)
            tally.extra["kill_at"] = int(time.monotonic() - began)
            procs.kill("worker")
            tally.faults += 1
            await asyncio.sleep(chance.uniform(0.2, 1.0))
            procs.start("worker", "worker", settings)
            view = await _settled(http, made["id"])
            tally.extra["settled_at"] = int(time.monotonic() - began)
            assert view["counters"]["received"] == EVENTS, view
            assert view["counters"]["succeeded"] == EVENTS, view
            assert view["counters"]["started"] >= EVENTS, view

        ids = [instance_task_id(made["id"], e) for e in events]
        found = await wait_terminal(settings, ids)
        assert set(found.values()) == {"succeeded"}, found
        await audit(settings, ids, None, tally)
        engine = create_engine(settings)
        try:
            async with readonly_session_factory(engine)() as session:
                tasks = await session.scalar(select(func.count()).where(Task.event_id.in_(events)))
                entries = list(
                    await session.scalars(
                        select(InstanceHistory).where(InstanceHistory.instance_id == made["id"])
                    )
                )
        finally:
            await engine.dispose()
        tally.extra["seconds"] = int(time.monotonic() - began)
        assert tasks == EVENTS, tally.report()  # one task per event, never a second
        assert sorted(h.event_id for h in entries) == sorted(events)
        assert {h.outcome for h in entries} == {"succeeded"}
        assert tally.lost == 0, tally.report()
        tally.report()


async def saved(http: httpx.AsyncClient, instance_id: str) -> dict[str, Any]:
    """The instance as its row holds it (no query: a dead worker answers none)."""
    listed = (await http.get("/v1/instances", params={"limit": 1})).json()["items"]
    [view] = [i for i in listed if i["id"] == instance_id]
    return dict(view)


async def _settled(http: httpx.AsyncClient, instance_id: str) -> dict[str, Any]:
    # A stall fails it, not a slow machine: the wait's bound restarts at every finished task (a
    # loaded CI machine ran 73 of the 100 in LIMIT, still moving).
    ends, done = time.monotonic() + LIMIT, -1
    while True:
        view = await saved(http, instance_id)
        counters = view["counters"]
        finished = counters["succeeded"] + counters["failed"]
        if finished >= EVENTS and not view["current_tasks"]:
            return view
        if finished > done:
            ends, done = time.monotonic() + LIMIT, finished
        assert time.monotonic() < ends, f"no task finished in {LIMIT:g} s: {view}"
        await asyncio.sleep(0.2)
