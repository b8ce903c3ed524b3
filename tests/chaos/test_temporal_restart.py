"""The Temporal server stops under running tasks and comes back on the same SQLite file.

A dev server of its own (not the session's) with file persistence on a fixed port; a real
worker process and the API point at it. It is SIGKILLed once and stopped gracefully once,
each time started again on the same address and database file: every task completes.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from cape.settings import Settings
from cli.devserver import dev_server_args, temporal_binary, wait_for_temporal
from cli.testing.fake_llm import FakeLLMServer
from tests.chaos.support import LIMIT, Tally, audit, fleet, rng, wait_count, wait_terminal
from tests.e2e.test_resume import slow_script, start_named_task
from tests.harness import free_port, log_tail, new_api_key, running_api, stop_process

pytestmark = pytest.mark.timeout(150)
TASKS = 10
KINDS = ["workspace", "llm", "tool", "llm"]
# How each outage ends the server, and the step every task waits in when it starts.
OUTAGES = ((signal.SIGKILL, 2), (signal.SIGTERM, 4))


class Temporal:
    """A dev server on a fixed port with a SQLite file: stoppable and restartable."""

    def __init__(self, port: int, db_file: Path, log: Path) -> None:
        self.address = f"127.0.0.1:{port}"
        self.args = [str(temporal_binary())]
        self.args += dev_server_args(port=port, ui_port=None, db_file=db_file, log_level="error")
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def launch(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT)
        return self.proc

    async def start(self) -> None:
        proc = self.launch()

        def alive() -> bool:
            return proc.poll() is None

        await wait_for_temporal(self.address, wait_seconds=LIMIT, alive=alive)

    def stop(self, sig: int) -> int:
        assert self.proc is not None
        return stop_process(self.proc, sig, LIMIT)


@contextmanager
def temporal_server(tmp_path: Path) -> Iterator[Temporal]:
    server = Temporal(free_port(), tmp_path / "temporal.db", tmp_path / "temporal.log")
    try:
        yield server
    except BaseException:
        print(log_tail(server.log))
        raise
    finally:
        if server.proc is not None:
            stop_process(server.proc, signal.SIGKILL)


async def test_tasks_complete_across_temporal_restarts(
    fake_llm: FakeLLMServer, settings: Settings, tmp_path: Path
) -> None:
    chance = rng("temporal-restart")
    tally = Tally("temporal-restart")
    with temporal_server(tmp_path) as temporal, fleet(tmp_path) as procs:
        await temporal.start()
        mine = settings.model_copy(update={"temporal_address": temporal.address})
        procs.start("worker", "worker", mine)
        key = await new_api_key(mine)
        headers = {"Authorization": f"Bearer {key}"}
        async with (
            running_api(mine) as url,
            httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http,
        ):
            ids = []
            for i in range(TASKS):
                name = f"temporal-{i}-{uuid.uuid4().hex[:6]}"
                fake_llm.add_script(slow_script(name, round(chance.uniform(2.0, 3.0), 2)))
                ids.append(await start_named_task(http, name))
        for sig, step_no in OUTAGES:
            what = f"every task to start step {step_no}"
            await wait_count(mine, ids, "step-started", TASKS * step_no, what)
            await asyncio.sleep(chance.uniform(0.0, 0.5))
            temporal.stop(sig)
            tally.faults += 1
            await asyncio.sleep(chance.uniform(1.0, 3.0))
            await temporal.start()
        await wait_terminal(mine, ids)
        assert procs.alive("worker"), procs.tails()
    await audit(mine, ids, KINDS, tally)
    message = tally.report()
    assert tally.lost == 0, message
    assert tally.faults == len(OUTAGES), message
