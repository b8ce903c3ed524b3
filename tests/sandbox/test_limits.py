"""Resource attacks are stopped, reported with a reason, and leave no process behind."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from cape.sandbox.launcher import Sandbox
from cape.sandbox.types import MiB
from tests.sandbox.conftest import MODES, leftover_cgroups, marker, processes_with


@pytest.mark.parametrize("mode", MODES)
async def test_wall_timeout_kills_background_and_setsid_children(
    make_sandbox: Callable[[str], Sandbox], workspace: Path, mode: str
) -> None:
    sandbox = make_sandbox(mode)
    tag = marker()
    script = f"""
        sleep {tag} &
        setsid sleep {tag} &
        (setsid sh -c 'sleep {tag}' &)
        while true; do echo tick; sleep 0.2; done
    """
    limits = sandbox.limits({"wall_seconds": 1.5, "idle_seconds": 10})
    result = await sandbox.run(["sh", "-c", script], workspace=workspace, limits=limits)
    assert result.timed_out and result.killed_reason == "wall timeout" and not result.ok
    assert result.exit_code is None and result.signal == 9
    assert "tick" in result.output
    assert processes_with(tag) == []
    assert leftover_cgroups() == []


@pytest.mark.parametrize("mode", MODES)
async def test_idle_timeout_kills_a_silent_run_and_its_children(
    make_sandbox: Callable[[str], Sandbox], workspace: Path, mode: str
) -> None:
    sandbox = make_sandbox(mode)
    tag = marker()
    script = f"echo started; sleep {tag} & setsid sleep {tag} & sleep {tag}"
    limits = sandbox.limits({"wall_seconds": 30, "idle_seconds": 1})
    result = await sandbox.run(["sh", "-c", script], workspace=workspace, limits=limits)
    assert result.idle_timed_out and not result.timed_out
    assert result.killed_reason == "idle timeout" and result.output == "started\n"
    assert processes_with(tag) == []


@pytest.mark.parametrize("mode", MODES)
async def test_background_children_die_with_a_normal_exit(
    make_sandbox: Callable[[str], Sandbox], workspace: Path, mode: str
) -> None:
    sandbox = make_sandbox(mode)
    tag = marker()
    script = f"setsid sleep {tag} > /dev/null 2>&1 & sleep {tag} & echo bye"
    result = await sandbox.run(["sh", "-c", script], workspace=workspace, limits=sandbox.limits())
    assert result.ok and result.output == "bye\n"
    assert processes_with(tag) == []


@pytest.mark.parametrize("mode", MODES)
async def test_fork_bomb_is_held_by_the_pids_limit(
    make_sandbox: Callable[[str], Sandbox], workspace: Path, mode: str
) -> None:
    sandbox = make_sandbox(mode)
    tag = marker()
    # Counts the forks it gets: the pids cgroup stops them well before 200.
    counting = f"""
import os, time
n = 0
try:
    while n < 200:
        if os.fork() == 0:
            time.sleep({tag})
            os._exit(0)
        n += 1
except OSError as error:
    print("fork refused after", n, error.strerror)
"""
    limits = sandbox.limits({"pids": 24, "wall_seconds": 10})
    result = await sandbox.run(["python3", "-c", counting], workspace=workspace, limits=limits)
    assert result.ok and result.isolation.pids_cgroup
    words = result.output.split()
    assert words[:3] == ["fork", "refused", "after"] and int(words[3]) < 24
    assert processes_with(tag) == []

    # The classic one: it cannot grow, and the wall timeout ends it.
    bomb = f": {tag}; bomb() {{ bomb | bomb & }}; bomb; while :; do :; done"
    limits = sandbox.limits({"pids": 24, "wall_seconds": 1.5})
    result = await sandbox.run(["bash", "-c", bomb], workspace=workspace, limits=limits)
    assert result.killed_reason == "wall timeout"
    assert processes_with(tag) == []
    assert leftover_cgroups() == []


@pytest.mark.parametrize("mode", MODES)
async def test_memory_hog_is_killed(
    make_sandbox: Callable[[str], Sandbox], workspace: Path, mode: str
) -> None:
    sandbox = make_sandbox(mode)
    limits = sandbox.limits({"memory_bytes": 64 * MiB})
    hog = ["python3", "-c", "b = b'x' * (512 << 20); print('allocated')"]
    result = await sandbox.run(hog, workspace=workspace, limits=limits)
    assert result.killed_reason == "memory limit" and not result.ok
    assert "allocated" not in result.output and result.isolation.memory_cgroup


@pytest.mark.parametrize("mode", MODES)
async def test_cpu_spin_is_stopped_by_the_cpu_limit(
    make_sandbox: Callable[[str], Sandbox], workspace: Path, mode: str
) -> None:
    sandbox = make_sandbox(mode)
    limits = sandbox.limits({"cpu_seconds": 1, "wall_seconds": 30})
    result = await sandbox.run(
        ["python3", "-c", "while True: pass"], workspace=workspace, limits=limits
    )
    # SIGXCPU from the process's rlimit, or SIGKILL from the run's CPU accounting: both count.
    assert result.killed_reason == "cpu limit" and result.signal in (24, 9) and not result.ok
    assert not result.timed_out


# Each child stays under the per-process RLIMIT_CPU; together they use far more.
FORKING_SPIN = """
import subprocess, sys
spin = "import time\\nt = time.process_time()\\nwhile time.process_time() - t < 0.6: pass"
for i in range(30):
    subprocess.run([sys.executable, "-c", spin])
    print("child", i, flush=True)
print("finished")
"""


@pytest.mark.parametrize("mode", MODES)
async def test_cpu_limit_counts_every_process_of_the_run(
    make_sandbox: Callable[[str], Sandbox], workspace: Path, mode: str
) -> None:
    sandbox = make_sandbox(mode)
    limits = sandbox.limits({"cpu_seconds": 2, "wall_seconds": 300, "idle_seconds": 120})
    result = await sandbox.run(["python3", "-c", FORKING_SPIN], workspace=workspace, limits=limits)
    assert result.isolation.cpu_cgroup, result.isolation
    assert result.killed_reason == "cpu limit" and not result.ok, result.output
    assert "finished" not in result.output and "child 0" in result.output
    assert leftover_cgroups() == []


async def test_file_size_limit(sandbox: Sandbox, workspace: Path) -> None:
    limits = sandbox.limits({"file_size_bytes": 1 * MiB})
    result = await sandbox.run(
        ["sh", "-c", "head -c 5000000 /dev/zero > big; echo $?"], workspace=workspace, limits=limits
    )
    assert (workspace / "big").stat().st_size == 1 * MiB
    assert result.output.splitlines()[-1] == "153"  # head was killed by SIGXFSZ (128 + 25)


@pytest.mark.parametrize("mode", MODES)
async def test_endless_output_is_cut_and_killed(
    make_sandbox: Callable[[str], Sandbox], workspace: Path, tmp_path: Path, mode: str
) -> None:
    sandbox = make_sandbox(mode)
    sandbox.output_cap_bytes = 256 * 1024
    log = tmp_path / "endless.log"
    limits = sandbox.limits({"output_chars": 1000})
    result = await sandbox.run(["yes", "spam"], workspace=workspace, limits=limits, log_path=log)
    assert result.killed_reason == "output limit" and not result.ok
    assert result.truncated and result.output_bytes > 256 * 1024
    head, _, tail = result.output.partition(" bytes cut ...]\n")
    assert head.startswith("spam\nspam\n") and "\n[... " in head and tail.endswith("spam\n")
    logged = log.read_bytes()
    assert logged.startswith(b"spam\n" * 1000)
    assert logged.endswith(b"\n[... output limit of 262144 bytes reached; killed ...]\n")
    assert len(logged) < 256 * 1024 + 100
