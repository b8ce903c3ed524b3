"""`cape dev` under load: each child SIGKILLed once is restarted; `cape dev` SIGKILLed leaves none.

A real `cape dev` (its own Temporal dev server on a SQLite file, a worker and an API) runs at
least 30 tasks in flight, POSTed with and without an Idempotency-Key and followed over SSE
from their first event. The worker, then the API, then Temporal are SIGKILLed once each (found
in /proc as children of `cape dev`); `cape dev` must print its restart line and bring a new
process up, and a task POSTed right after each kill must make progress. In the end every
accepted task succeeded with each step once (task and step rows), its workflow completed
(Temporal's list), every follower saw every event once, and every key still answers its
task. Then `cape dev` itself is SIGKILLed: no child may outlive it by more than ORPHAN_LIMIT
seconds, and a new `cape dev` starts on the same data dir and ports.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
import uuid
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer
from tests.chaos.support import LIMIT, Probe, Tally, audit, probe, rng, wait_terminal
from tests.chaos.test_api_restart import Follower
from tests.devstack import CapeDev, dev_command, running, start_dev
from tests.e2e.test_resume import assert_end, assert_events, data_of, slow_script
from tests.harness import settings_env, wait_until

pytestmark = pytest.mark.timeout(420)
TASKS = 30
KINDS = ["workspace", "llm", "tool", "llm"]
VICTIMS = ("worker", "api", "temporal")
ORPHAN_LIMIT = 5.0  # the bound: no child survives `cape dev` by more than this


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # A restarted worker replays every open workflow at once on 2 cores: a 5 s heartbeat
    # timeout keeps live attempts from timing out meanwhile (as in test_worker_kill.py).
    return settings.model_copy(update={"heartbeat_timeout_seconds": 5.0})


class Load:
    """POSTs tasks, keyed or not, and follows each accepted one over SSE from its start."""

    def __init__(self, http: httpx.AsyncClient, fake_llm: FakeLLMServer, chance: random.Random):
        self.http = http
        self.fake_llm = fake_llm
        self.chance = chance
        self.accepted: list[str] = []
        self.keys: dict[str, tuple[str, dict[str, object]]] = {}  # key -> task id, body
        self.unanswered = 0  # unkeyed POSTs that got no 201: the client cannot know the task
        self.followers: list[Follower] = []
        self.reading: list[asyncio.Task[None]] = []

    async def post(self, keyed: bool, delay: float | None = None) -> str | None:
        """POST one task; a keyed one is retried through outages until it is answered."""
        name = f"dev-{len(self.accepted)}-{uuid.uuid4().hex[:6]}"
        pause = round(self.chance.uniform(1.5, 3.0), 2) if delay is None else delay
        self.fake_llm.add_script(slow_script(name, pause))
        body: dict[str, object] = {
            "agent": "assistant",
            "input": {"prompt": "write"},
            "model": f"script:{name}",
        }
        key = f"key-{name}" if keyed else None
        headers = {"Idempotency-Key": key} if key else None
        end = time.monotonic() + LIMIT
        while True:
            try:
                answer: httpx.Response | None = await self.http.post(
                    "/v1/tasks", json=body, headers=headers
                )
            except httpx.TransportError:
                answer = None
            if answer is not None and answer.status_code in (200, 201):
                task_id = str(answer.json()["id"])
                self.accept(task_id)
                if key:
                    self.keys[key] = (task_id, body)
                return task_id
            assert answer is None or answer.status_code >= 500, answer.text
            if key is None:
                self.unanswered += 1
                return None
            assert time.monotonic() < end, f"keyed POST not answered in {LIMIT} s"
            await asyncio.sleep(0.25)

    def accept(self, task_id: str) -> None:
        self.accepted.append(task_id)
        follower = Follower(self.http, task_id)
        self.followers.append(follower)
        self.reading.append(asyncio.create_task(follower.run()))

    async def feed(self, stop: asyncio.Event) -> None:
        """Keep POSTing (alternately keyed and not) until `stop` is set."""
        keyed = True
        while not stop.is_set():
            await self.post(keyed)
            keyed = not keyed
            await asyncio.sleep(self.chance.uniform(0.2, 0.6))


async def finished_steps(progress: Probe, ids: list[str]) -> int:
    progress.ids = list(ids)
    return await progress.count("step-finished")


async def kill_child(dev: CapeDev, victim: str) -> int:
    """SIGKILL the child `victim` of `cape dev` (found in /proc); returns its pid."""
    pid = dev.children()[victim]
    os.kill(pid, signal.SIGKILL)
    return pid


async def test_cape_dev_restarts_each_killed_child_and_leaves_no_orphan(
    fake_llm: FakeLLMServer, settings: Settings, tmp_path: Path
) -> None:
    chance = rng("cape-dev")
    tally = Tally("cape-dev-supervisor")
    data_dir = tmp_path / "dev"
    env = settings_env(settings) | {"PYTHONUNBUFFERED": "1"}
    dev, ports, key = await asyncio.to_thread(start_dev, data_dir, env)
    try:
        headers = {"Authorization": f"Bearer {key}"}
        async with (
            httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{ports[0]}",
                headers=headers,
                timeout=30,
                limits=httpx.Limits(max_connections=400),
            ) as http,
            probe(settings, []) as progress,
        ):
            load = Load(http, fake_llm, chance)
            for i in range(TASKS):
                await load.post(keyed=i % 2 == 0)
            stop = asyncio.Event()
            feeding = asyncio.create_task(load.feed(stop))
            for victim in VICTIMS:
                before = await finished_steps(progress, load.accepted)

                async def progressed(before: int = before) -> bool:
                    return await finished_steps(progress, load.accepted) > before

                await wait_until(progressed, f"progress before the {victim} kill", LIMIT, 0.1)
                await asyncio.sleep(chance.uniform(0.1, 1.0))
                mark = dev.mark()
                old = await kill_child(dev, victim)
                killed = time.monotonic()
                tally.faults += 1
                line = f"{victim} exited (SIGKILL); restarting in"
                await asyncio.to_thread(dev.wait_for, line, LIMIT, mark)

                async def replaced(victim: str = victim, old: int = old) -> bool:
                    return dev.children().get(victim, old) != old

                await wait_until(replaced, f"a new {victim}", LIMIT, 0.1)
                tally.extra[f"{victim}_respawned_ms"] = round((time.monotonic() - killed) * 1000)
                # A task POSTed now (retried through the outage) makes progress: all is back.
                fresh = await load.post(keyed=True, delay=0.0)
                assert fresh is not None

                async def moving(fresh: str = fresh) -> bool:
                    return await finished_steps(progress, [fresh]) > 0

                await wait_until(moving, f"progress after the {victim} kill", LIMIT, 0.1)
                tally.extra[f"{victim}_back_ms"] = round((time.monotonic() - killed) * 1000)
            stop.set()
            await feeding
            try:
                async with asyncio.timeout(LIMIT):
                    await asyncio.gather(*load.reading)
            finally:
                for task in load.reading:
                    task.cancel()
            await wait_terminal(settings, load.accepted)
            for idem, (task_id, body) in load.keys.items():
                again = await http.post("/v1/tasks", json=body, headers={"Idempotency-Key": idem})
                assert again.status_code == 200 and again.json()["id"] == task_id, again.text
        by_task = await audit(settings, load.accepted, KINDS, tally)
        for follower in load.followers:
            _, events = by_task[follower.task_id]
            try:
                assert_events(follower.messages, events)
                assert_end(follower.messages, len(events))
            except AssertionError as exc:
                tally.problems.setdefault(follower.task_id, []).append(f"stream: {exc!s:.600}")
        tally.lost = len(tally.problems)
        tally.extra["keyed"] = len(load.keys)
        tally.extra["unkeyed_unanswered"] = load.unanswered
        tally.extra["sse_events"] = sum(len(data_of(f.messages)) for f in load.followers)
        # One line per kill; more would mean a child crashed by itself (e.g. the worker when
        # Temporal went away): recovered too, but reported.
        tally.extra["restart_lines"] = dev.text().count("; restarting in")
        message = tally.report()
        assert tally.lost == 0, message
        assert tally.faults == len(VICTIMS), message
        assert len(load.accepted) >= TASKS + len(VICTIMS), message

        # Temporal's own view agrees: every accepted task's workflow completed.
        accepted = set(load.accepted)
        temporal = await Client.connect(f"127.0.0.1:{ports[1]}")

        async def all_completed() -> bool:
            query = f"TaskQueue = '{settings.task_queue}'"
            done = {
                wf.id
                async for wf in temporal.list_workflows(query)
                if wf.status == WorkflowExecutionStatus.COMPLETED
            }
            return accepted <= done

        await wait_until(all_completed, "Temporal to list every workflow completed", LIMIT, 0.5)

        # `cape dev` itself SIGKILLed: its children follow it.
        children = dev.children()
        assert set(children) == set(VICTIMS), dev.text()
        os.kill(dev.proc.pid, signal.SIGKILL)
        dev.proc.wait(LIMIT)

        async def orphans_gone() -> bool:
            return not any(running(pid) for pid in children.values())

        await wait_until(orphans_gone, "the children of a killed cape dev to end", ORPHAN_LIMIT)
    finally:
        dev.close()

    # A new `cape dev` starts on the same data dir and ports, with the same key.
    again = CapeDev(dev_command(data_dir, ports), env)
    try:
        assert await asyncio.to_thread(again.value, "Dev API key:") == key
        assert "left running" not in again.text()  # nothing survived to be stopped
        children = again.children()
        assert again.interrupt() == 0, again.text()
        assert not any(running(pid) for pid in children.values())
        assert not (data_dir / "cape-dev.pid").exists()
    finally:
        again.close()
