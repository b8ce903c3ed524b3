"""20 SSE clients follow 20 tasks while the API process is SIGKILLed and restarted, twice.

The API is a real `cape api` subprocess on a fixed port. Each client reconnects with the
`Last-Event-ID` it last saw; in the end every client saw every stored event of its task
exactly once, in order, then one `end` event.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from cape.db.models import TaskEvent, TaskStep
from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer
from tests.chaos.support import LIMIT, Tally, audit, fleet, rng, wait_terminal
from tests.e2e.test_resume import (
    assert_end,
    assert_events,
    data_of,
    is_step_started,
    slow_script,
    start_named_task,
)
from tests.harness import free_port, iter_sse, new_api_key, wait_http, wait_until
from worker.group import WorkerGroup

pytestmark = pytest.mark.timeout(150)
CLIENTS = 20
KINDS = ["workspace", "llm", "tool", "llm"]
KILL_AT_STEPS = (2, 4)  # the API dies while every client waits in this LLM step


class Follower:
    """One SSE client: follows its task, reconnecting with Last-Event-ID until `end`."""

    def __init__(self, http: httpx.AsyncClient, task_id: str) -> None:
        self.http = http
        self.task_id = task_id
        self.messages: list[dict[str, Any]] = []
        self.connects = 0

    def saw(self, step_no: int) -> bool:
        return any(is_step_started(m, step_no) for m in self.messages)

    async def run(self) -> None:
        url = f"/v1/tasks/{self.task_id}/events"
        while not self.messages or self.messages[-1].get("event") != "end":
            seen = data_of(self.messages)
            headers = {"Last-Event-ID": str(seen[-1]["id"])} if seen else None
            try:
                self.connects += 1
                async for message in iter_sse(self.http, url, headers):
                    self.messages.append(message)
                    if message.get("event") == "end":
                        return
            except (httpx.TransportError, AssertionError):
                # The API went away (connection refused/reset, or not yet serving): retry.
                await asyncio.sleep(0.2)


async def finish_reading(reading: list[asyncio.Task[None]]) -> None:
    """Wait (bounded by LIMIT) for every follower to reach `end`; stop those that did not."""
    try:
        async with asyncio.timeout(LIMIT):
            await asyncio.gather(*reading)
    finally:
        for task in reading:
            task.cancel()


def audit_streams(
    followers: list[Follower],
    by_task: dict[str, tuple[list[TaskStep], list[TaskEvent]]],
    tally: Tally,
) -> None:
    """Each follower saw every stored event of its task once, in order, then `end`."""
    for follower in followers:
        _, events = by_task[follower.task_id]
        try:
            assert_events(follower.messages, events)
            assert_end(follower.messages, len(events))
        except AssertionError as exc:
            tally.problems.setdefault(follower.task_id, []).append(f"stream: {exc!s:.600}")


async def test_sse_clients_resume_across_api_kills(
    worker: WorkerGroup, fake_llm: FakeLLMServer, settings: Settings, tmp_path: Path
) -> None:
    chance = rng("api-restart")
    api_settings = settings.model_copy(update={"api_port": free_port()})
    base = f"http://127.0.0.1:{api_settings.api_port}"
    headers = {"Authorization": f"Bearer {await new_api_key(settings)}"}
    tally = Tally("api-restart")
    with fleet(tmp_path) as procs:
        procs.start("api", "api", api_settings)
        await wait_http(f"{base}/healthz", LIMIT)
        limits = httpx.Limits(max_connections=CLIENTS * 2)
        async with httpx.AsyncClient(
            base_url=base, headers=headers, timeout=10, limits=limits
        ) as http:
            ids = []
            for i in range(CLIENTS):
                name = f"follow-{i}-{uuid.uuid4().hex[:6]}"
                # Each LLM turn waits 3-4 s: the API is killed while every task waits there.
                fake_llm.add_script(slow_script(name, round(chance.uniform(3.0, 4.0), 2)))
                ids.append(await start_named_task(http, name))
            followers = [Follower(http, task_id) for task_id in ids]
            reading = [asyncio.create_task(f.run()) for f in followers]
            for step_no in KILL_AT_STEPS:

                async def waiting_in_step(step_no: int = step_no) -> bool:
                    return all(f.saw(step_no) for f in followers)

                await wait_until(waiting_in_step, f"every client to see step {step_no}", LIMIT)
                await asyncio.sleep(chance.uniform(0.0, 0.5))
                procs.kill("api")
                tally.faults += 1
                await asyncio.sleep(chance.uniform(0.2, 1.0))
                procs.start("api", "api", api_settings)
            await finish_reading(reading)
        await wait_terminal(settings, ids)
    by_task = await audit(settings, ids, KINDS, tally)
    audit_streams(followers, by_task, tally)
    tally.lost = len(tally.problems)
    tally.extra["sse_events"] = sum(len(data_of(f.messages)) for f in followers)
    tally.extra["connect_attempts"] = sum(f.connects for f in followers)
    message = tally.report()
    assert tally.lost == 0, message
    assert tally.faults == len(KILL_AT_STEPS), message
    # Every client lost its connection at each kill and came back.
    assert all(f.connects > len(KILL_AT_STEPS) for f in followers), message
