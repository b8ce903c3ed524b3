"""A worker frozen (SIGSTOP) past the heartbeat timeout, then thawed: no step recorded twice.

While the first worker stalls, Temporal times its running attempts out and a second worker
runs them again. When the first one wakes up, its stale attempts carry on for a moment (until
a heartbeat tells them they are gone) and reach the step recorder while the newer attempts
run: what they write must not double a step's events or its outcome.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer
from tests.chaos.support import Tally, audit, fleet, wait_count, wait_terminal
from tests.conftest import Api
from tests.e2e.test_crash import KINDS, start_tasks, two_files_script

pytestmark = pytest.mark.timeout(150)
TASKS = 8
FIRST_TURN_DELAY = 4.0  # the first LLM turn outlasts the heartbeat timeout (2 s)


async def test_stale_attempts_of_a_thawed_worker_record_nothing_twice(
    api: Api, fake_llm: FakeLLMServer, settings: Settings, tmp_path: Path
) -> None:
    names = [f"frozen-{i}-{uuid.uuid4().hex[:6]}" for i in range(TASKS)]
    for name in names:
        fake_llm.add_script(two_files_script(name, first_delay=FIRST_TURN_DELAY, last_delay=0.5))
    tally = Tally("frozen-worker")
    with fleet(tmp_path) as procs:
        procs.start("first", "worker", settings)
        ids = await start_tasks(api, names, 0.02)
        # Every task waits in its first LLM turn (step 2) on the first worker: freeze it.
        await wait_count(settings, ids, "step-started", 2 * TASKS, "every first LLM turn")
        procs.freeze("first")
        tally.faults += 1
        procs.start("second", "worker", settings)
        # The second worker runs attempt 2 of those turns; the first one's answers are in.
        await wait_count(settings, ids, "step-started", 3 * TASKS, "the retried turns")
        procs.freeze("first", frozen=False)
        await wait_terminal(settings, ids)
        await asyncio.sleep(settings.heartbeat_timeout_seconds)  # let stale attempts finish
        procs.kill("first")
        procs.kill("second")
    await audit(settings, ids, KINDS, tally)
    message = tally.report()
    assert tally.lost == 0, message
