"""A worker process SIGKILLed at random moments under 50 running tasks: nothing is lost.

The worker is a real `cape worker` subprocess; it is killed (seeded random moments, after it
made progress) and started again, several times. Every task must succeed with each step
recorded once, gap-free event seqs and each step's events once per run.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer
from tests.chaos.support import LIMIT, Tally, audit, fleet, probe, rng, wait_terminal
from tests.conftest import Api
from tests.e2e.test_crash import KINDS, start_tasks, two_files_script
from tests.harness import wait_until

pytestmark = pytest.mark.timeout(170)
TASKS = 50
KILLS = 4


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # A restarted worker replays 50 workflows at once on 2 cores: with a 2 s heartbeat timeout
    # (heartbeats go out at most every 1.6 s) live attempts time out too and run twice at
    # once, a different fault (see test_frozen_worker.py). 5 s still notices a kill quickly.
    return settings.model_copy(update={"heartbeat_timeout_seconds": 5.0})


async def test_worker_sigkilled_at_random_moments_loses_no_task(
    api: Api, fake_llm: FakeLLMServer, settings: Settings, tmp_path: Path
) -> None:
    chance = rng("worker-kill")
    names = [f"kill-{i}-{uuid.uuid4().hex[:6]}" for i in range(TASKS)]
    for name in names:
        first, last = round(chance.uniform(0.5, 2.0), 2), round(chance.uniform(0.5, 2.0), 2)
        fake_llm.add_script(two_files_script(name, first_delay=first, last_delay=last))
    tally = Tally("worker-kill")
    with fleet(tmp_path) as procs:
        procs.start("worker", "worker", settings)
        ids = await start_tasks(api, names, 0.02)
        async with probe(settings, ids) as progress:
            while tally.faults < KILLS:
                # Kill only a worker that did some work in this life, at a random moment after.
                before = await progress.count("step-finished")

                async def progressed(before: int = before) -> bool:
                    return await progress.count("step-finished") > before

                await wait_until(progressed, "a step to finish on this worker", LIMIT, 0.1)
                await asyncio.sleep(chance.uniform(0.1, 1.5))
                if await progress.ended():
                    break
                procs.kill("worker")
                tally.faults += 1
                await asyncio.sleep(chance.uniform(0.0, 0.5))
                procs.start("worker", "worker", settings)
        await wait_terminal(settings, ids)
    await audit(settings, ids, KINDS, tally)
    tally.extra["worker_starts"] = procs.started["worker"]
    message = tally.report()
    assert tally.lost == 0, message
    assert tally.faults >= 3, f"the tasks ended before 3 kills: {message}"
