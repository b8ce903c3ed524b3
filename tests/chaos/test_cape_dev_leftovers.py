"""Leftovers of an unclean stop are found via the pid file and stopped; a held port is named.

The leftover is a real Temporal dev server on `cape dev`'s port and database file, in a session
of its own, recorded in `<data dir>/cape-dev.pid` by a `cape dev` that no longer runs (as after
a stop where no parent-death signal reached it, e.g. off Linux). A decoy recorded under a pid
that now belongs to another process must be left alone. Then, with that `cape dev` up, a
second one on the same ports names the process that holds the API port, and a third on the
same data dir says `cape dev` already runs there. Last, with the restart limit injected (one
restart), a worker killed twice makes `cape dev` give up: log tail, the rest stopped, exit 1.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from cli.devserver import dev_server_args, temporal_binary, wait_for_temporal
from cli.procinfo import process_identity
from tests.chaos.support import LIMIT
from tests.devstack import CapeDev, clean_env, dev_command, free_ports, running
from tests.harness import wait_until

pytestmark = pytest.mark.timeout(240)


def run_dev(data_dir: Path, ports: list[int]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        dev_command(data_dir, ports),
        capture_output=True,
        text=True,
        timeout=LIMIT,
        env=clean_env(),
    )


def start_processes(
    tmp_path: Path, data_dir: Path, temporal_port: int
) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes], subprocess.Popen[bytes]]:
    """The leftover Temporal (its own session), a decoy, and a process that already ended."""
    args = dev_server_args(port=temporal_port, ui_port=None, db_file=data_dir / "temporal.db")
    with (tmp_path / "leftover.log").open("wb") as log:
        leftover = subprocess.Popen(
            [str(temporal_binary()), *args], stdout=log, stderr=log, start_new_session=True
        )
    decoy = subprocess.Popen(["sleep", "600"])
    gone = subprocess.Popen(["true"])
    gone.wait()
    return leftover, decoy, gone


async def test_leftover_is_stopped_and_a_held_port_is_named(tmp_path: Path) -> None:
    ports = free_ports(2)
    data_dir = tmp_path / "dev"
    data_dir.mkdir()
    leftover, decoy, gone = start_processes(tmp_path, data_dir, ports[1])
    dev: CapeDev | None = None
    try:

        def alive() -> bool:
            return leftover.poll() is None

        await wait_for_temporal(f"127.0.0.1:{ports[1]}", wait_seconds=LIMIT, alive=alive)
        record = {
            "pid": gone.pid,
            "identity": f"1 {gone.args[0]}",
            "children": [
                {
                    "name": "temporal",
                    "pid": leftover.pid,
                    "identity": process_identity(leftover.pid),
                },
                # The pid is alive but is not the recorded process any more (reused).
                {"name": "worker", "pid": decoy.pid, "identity": "1 python -m cli worker"},
            ],
        }
        (data_dir / "cape-dev.pid").write_text(json.dumps(record))

        dev = CapeDev(
            dev_command(data_dir, ports, "--max-restarts", "1", "--restart-window", "600")
        )
        line = await asyncio.to_thread(dev.wait_for, "left running by an unclean stop")
        assert line == (
            f"Stopped temporal (pid {leftover.pid}), left running by an unclean stop of "
            f"cape dev on {data_dir}."
        )
        await asyncio.to_thread(leftover.wait, LIMIT)
        await asyncio.to_thread(dev.value, "Dev API key:")
        assert running(decoy.pid), "a process that only reused a recorded pid was stopped"
        assert dev.text().count("left running") == 1, dev.text()

        api_pid = dev.children()["api"]
        other = await asyncio.to_thread(run_dev, tmp_path / "other", ports)
        assert other.returncode == 2, other.stdout + other.stderr
        assert (
            f"port {ports[0]} (API) is already in use on 127.0.0.1 by pid {api_pid} ("
            in other.stderr
        )
        assert "-m cli api" in other.stderr

        same = await asyncio.to_thread(run_dev, data_dir, free_ports(2))
        assert same.returncode == 2, same.stdout + same.stderr
        assert f"cape dev is already running on this data dir (pid {dev.proc.pid})" in (same.stderr)

        # Restart limits are injectable: with one restart allowed, a second crash gives up,
        # stopping the others and printing the log tail.
        children = dev.children()
        os.kill(children["worker"], signal.SIGKILL)
        restarted = "worker exited (SIGKILL); restarting in 0.5 s (restart 1 of 1 in 600 s)"
        await asyncio.to_thread(dev.wait_for, restarted)

        async def respawned() -> int | None:
            worker = dev.children().get("worker")
            return worker if worker != children["worker"] else None

        worker = await wait_until(respawned, "a new worker", LIMIT, 0.1)
        os.kill(worker, signal.SIGKILL)
        assert await asyncio.to_thread(dev.proc.wait, LIMIT) == 1, dev.text()
        output = dev.text()
        assert "worker exited (SIGKILL) after 1 restart in 600 s; giving up; last lines of " in (
            output
        )
        tail = output.split(f"{data_dir}/logs/worker.log:\n", 1)[1]
        assert "--- cape dev " in tail  # the log's tail follows, up to the last start
        assert not any(running(pid) for pid in children.values())
        assert not (data_dir / "cape-dev.pid").exists()
    finally:
        if dev is not None:
            dev.close()
        for proc in (leftover, decoy):
            proc.kill()
            proc.wait()
