"""The embedded Temporal dev server and `cape dev`, against the real `temporal` binary."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from cape.contracts.temporal import SEARCH_ATTRIBUTES
from cape.devserver import (
    DevServerError,
    PortInUse,
    check_port_free,
    dev_server_args,
    ensure_search_attributes,
    temporal_binary,
    tuning_args,
    wait_for_temporal,
)
from tests.devstack import CapeDev, clean_env, dev_command, free_ports

DYNAMIC = [
    "--dynamic-config-value", "history.transferProcessorMaxPollRPS=10000",
    "--dynamic-config-value", "history.timerProcessorMaxPollRPS=10000",
    "--dynamic-config-value", 'history.timerProcessorMaxTimeShift="10ms"',
    "--dynamic-config-value", "matching.numTaskqueueReadPartitions=1",
    "--dynamic-config-value", "matching.numTaskqueueWritePartitions=1",
]  # fmt: skip
PRAGMAS = ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"]


def port_is_free(port: int) -> bool:
    try:
        check_port_free("127.0.0.1", port, "test")
    except PortInUse:
        return False
    return True


def test_tuning_args() -> None:
    assert tuning_args(None) == DYNAMIC
    assert tuning_args(Path("/x/t.db")) == PRAGMAS + DYNAMIC


def test_dev_server_args() -> None:
    args = dev_server_args(port=7001, ui_port=8001, db_file=Path("/d/temporal.db"))
    assert args[:2] == ["server", "start-dev"]
    pairs = list(zip(args[2::2], args[3::2], strict=True))
    assert ("--ip", "127.0.0.1") in pairs
    assert ("--port", "7001") in pairs
    assert ("--ui-port", "8001") in pairs
    assert ("--db-filename", "/d/temporal.db") in pairs
    assert ("--log-level", "warn") in pairs
    for name in SEARCH_ATTRIBUTES:
        assert ("--search-attribute", f"{name}=Keyword") in pairs
    assert args[-len(PRAGMAS + DYNAMIC) :] == PRAGMAS + DYNAMIC


def test_dev_server_args_headless_in_memory() -> None:
    args = dev_server_args(port=7001, ui_port=None, db_file=None, search_attributes={})
    assert "--headless" in args
    assert "--ui-port" not in args
    assert "--db-filename" not in args
    assert "--sqlite-pragma" not in args
    assert "--search-attribute" not in args


def test_check_port_free() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(PortInUse) as caught:
            check_port_free("127.0.0.1", port, "API", "--api-port")
    message = str(caught.value)
    assert message.startswith(f"port {port} (API) is already in use on 127.0.0.1 by pid ")
    assert message.endswith("; pass --api-port or stop the other process")
    check_port_free("127.0.0.1", port, "API")  # closed again: free


def test_dev_server_starts_with_tuned_flags(tmp_path: Path) -> None:
    """Every flag dev_server_args emits is accepted by the real binary, which comes up."""
    port, ui_port = free_ports(2)
    args = dev_server_args(port=port, ui_port=ui_port, db_file=tmp_path / "temporal.db")
    with (tmp_path / "temporal.log").open("wb") as log:
        proc = subprocess.Popen([str(temporal_binary()), *args], stdout=log, stderr=log)

    async def probe() -> list[str]:
        client = await wait_for_temporal(
            f"127.0.0.1:{port}", wait_seconds=30, alive=lambda: proc.poll() is None
        )
        return await ensure_search_attributes(client, "default")

    try:
        assert asyncio.run(probe()) == []  # already registered by --search-attribute
        assert httpx.get(f"http://127.0.0.1:{ui_port}/", timeout=5).status_code == 200
        assert (tmp_path / "temporal.db-wal").exists()  # journal_mode=wal took effect
    finally:
        proc.terminate()
        assert proc.wait(15) == 0, (tmp_path / "temporal.log").read_text()
    assert (tmp_path / "temporal.db").exists()


@workflow.defn(sandboxed=False)
class SleepWorkflow:
    @workflow.run
    async def run(self) -> None:
        await asyncio.sleep(0.1)  # a durable timer


async def test_tuning_args_with_start_local_run_a_timer_workflow() -> None:
    """tuning_args works with the SDK's start_local and durable timers fire.

    How much faster they fire is measured by `bench/timers.py`, not asserted here.
    """
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_binary()), dev_server_extra_args=tuning_args(None)
    )
    async with env:
        worker = Worker(
            env.client,
            task_queue="devserver-timers",
            workflows=[SleepWorkflow],
            workflow_runner=UnsandboxedWorkflowRunner(),
        )
        async with worker:
            for index in range(3):
                await env.client.execute_workflow(
                    SleepWorkflow.run, id=f"sleep-{index}", task_queue="devserver-timers"
                )


async def test_wait_for_temporal_gives_up() -> None:
    (port,) = free_ports(1)
    with pytest.raises(DevServerError, match="did not answer"):
        await wait_for_temporal(f"127.0.0.1:{port}", wait_seconds=0.5)


def test_cape_dev_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        api_port = sock.getsockname()[1]
        command = dev_command(tmp_path / "d", [api_port, *free_ports(2)])
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=60, env=clean_env()
        )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    # The holder is this test process, named with its command line.
    assert f"port {api_port} (API) is already in use on 127.0.0.1 by pid {os.getpid()} (" in (
        result.stderr
    )
    assert "--api-port" in result.stderr
    assert "Traceback" not in output
    assert not (tmp_path / "d" / "temporal.db").exists()


@pytest.fixture
def cape_dev_runs() -> Iterator[list[CapeDev]]:
    runs: list[CapeDev] = []
    yield runs
    for run in runs:
        run.close()


def test_cape_dev_end_to_end(tmp_path: Path, cape_dev_runs: list[CapeDev]) -> None:
    data_dir = tmp_path / "data"
    ports = free_ports(3)
    api_port = ports[0]
    keys = []
    # The second run reuses the data dir (same key, same databases) and stops on SIGHUP,
    # as when its terminal closes: in order too.
    for sig in (signal.SIGINT, signal.SIGHUP):
        run = CapeDev(dev_command(data_dir, ports))
        cape_dev_runs.append(run)
        key = run.value("Dev API key:")
        keys.append(key)
        output = run.text()
        assert f"http://127.0.0.1:{api_port}/docs" in output
        assert f"http://127.0.0.1:{ports[2]}" in output
        assert f"127.0.0.1:{ports[1]}" in output
        assert httpx.get(f"http://127.0.0.1:{api_port}/healthz", timeout=10).status_code == 200
        assert (data_dir / "cape-dev.pid").exists()
        assert run.interrupt(sig=sig) == 0, run.text()
        assert "Traceback" not in run.text()
        assert "the bundled scripted LLM" in output  # no provider in clean_env()
        assert "Stopping api, worker, fake-llm, temporal..." in run.text()
        for port in ports:
            assert port_is_free(port), f"port {port} still in use after Ctrl-C"
        assert not _processes_using(data_dir), "children left running"
        assert not (data_dir / "cape-dev.pid").exists()
    assert keys[0] == keys[1]
    assert keys[0].startswith("cape_")
    key_file = data_dir / "dev-api-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert (data_dir / "temporal.db").exists()
    assert (data_dir / "cape.db").exists()
    assert {"temporal.log", "worker.log", "api.log"} <= {
        p.name for p in (data_dir / "logs").iterdir()
    }


def _processes_using(data_dir: Path) -> list[int]:
    """Processes whose command line or environment names the data dir."""
    found = []
    needle = str(data_dir).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found
