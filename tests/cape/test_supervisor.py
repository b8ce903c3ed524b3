"""The supervisor of `cape dev` with small real children; parent death; process facts."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cli.devpids import PidFile
from cli.parentdeath import ParentLink, die_with_parent
from cli.procinfo import port_holder, process_identity
from cli.supervisor import (
    ChildDied,
    ChildSpec,
    GaveUp,
    RestartPolicy,
    Stop,
    Supervisor,
    describe_exit,
)
from tests.devstack import running
from tests.harness import ROOT

LIMIT = 60.0
CRASH = ["sh", "-c", "sleep 0.3; exit 3"]


def wait_gone(pid: int, limit: float = LIMIT) -> None:
    deadline = time.monotonic() + limit
    while running(pid):
        assert time.monotonic() < deadline, f"pid {pid} still runs"
        time.sleep(0.05)


def test_restart_policy_backoff_doubles_up_to_the_cap() -> None:
    policy = RestartPolicy(backoff_seconds=0.5, max_backoff_seconds=3.0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_restarts_count_within_the_window_only(tmp_path: Path) -> None:
    from cli.supervisor import Child

    policy = RestartPolicy(max_restarts=2, window_seconds=10.0)
    child = Child(ChildSpec("worker", ["true"], policy=policy), tmp_path / "w.log")
    assert child.count_restart(100.0) == 1
    assert child.count_restart(105.0) == 2
    assert child.count_restart(109.0) is None  # a third crash within 10 s: give up
    assert child.count_restart(111.0) == 2  # the one at 100 s left the window
    never = Child(ChildSpec("api", ["true"], policy=RestartPolicy(max_restarts=0)), tmp_path)
    assert never.count_restart(0.0) is None


def test_describe_exit() -> None:
    assert describe_exit(-signal.SIGKILL) == "SIGKILL"
    assert describe_exit(3) == "exit code 3"


def test_crashing_child_is_restarted_then_given_up_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = RestartPolicy(max_restarts=2, window_seconds=60, backoff_seconds=0.05)
    pid_file = PidFile(tmp_path)
    sup = Supervisor(tmp_path, pid_file, poll_seconds=0.02)
    sup.launch(ChildSpec("steady", ["sleep", "60"], env={}))
    steady = sup.children[0].proc
    assert steady is not None
    sup.launch(ChildSpec("crash", CRASH, policy=policy))
    recorded = json.loads(pid_file.path.read_text())
    assert recorded["pid"] == os.getpid()
    assert [c["name"] for c in recorded["children"]] == ["steady", "crash"]
    assert recorded["children"][0]["identity"] == process_identity(steady.pid)
    with pytest.raises(GaveUp) as caught:
        sup.watch()
    assert caught.value.child.name == "crash"
    assert capsys.readouterr().err.splitlines() == [
        "crash exited (exit code 3); restarting in 0.05 s (restart 1 of 2 in 60 s)",
        "crash exited (exit code 3); restarting in 0.1 s (restart 2 of 2 in 60 s)",
    ]
    assert (tmp_path / "crash.log").read_text().count("--- cape dev ") == 3
    sup.stop_all()
    assert steady.returncode == -signal.SIGTERM
    assert not pid_file.path.exists()


def test_a_child_that_cannot_be_started_again_gives_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "child.sh"
    script.write_text("#!/bin/sh\nsleep 0.3\nexit 3\n")
    script.chmod(0o755)
    sup = Supervisor(tmp_path, poll_seconds=0.02)
    sup.launch(ChildSpec("worker", [str(script)], policy=RestartPolicy(backoff_seconds=0.01)))
    script.unlink()
    with pytest.raises(GaveUp):
        sup.watch()
    assert "worker could not be started again: " in capsys.readouterr().err
    sup.stop_all()


def test_stop_all_stops_children_in_reverse_start_order(tmp_path: Path) -> None:
    order = tmp_path / "order"
    sup = Supervisor(tmp_path)
    for name in ("temporal", "worker", "api"):
        # Each notes its name when SIGTERM arrives, then exits 0; ready once the trap is set.
        ready = tmp_path / f"{name}.ready"
        script = (
            f'trap "echo {name} >> {order}; exit 0" TERM; touch {ready}; '
            "while :; do sleep 0.05; done"
        )

        def trapped(alive: Callable[[], bool], ready: Path = ready) -> None:
            while alive() and not ready.exists():
                time.sleep(0.02)

        sup.launch(ChildSpec(name, ["sh", "-c", script], ready=trapped))
    sup.stop_all()
    assert order.read_text().split() == ["api", "worker", "temporal"]
    assert sup.children == []


def test_a_child_dying_while_the_stack_starts_is_fatal(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)

    def never_ready(alive: Callable[[], bool]) -> None:
        while alive():
            time.sleep(0.02)

    with pytest.raises(ChildDied) as caught:
        sup.launch(ChildSpec("temporal", CRASH, ready=never_ready))
    assert not isinstance(caught.value, GaveUp)
    sup.stopping = True
    with pytest.raises(Stop):
        sup.watch()
    sup.stop_all()


def _spawn_middle(code: str) -> tuple[subprocess.Popen[str], int]:
    """A middle process running `code`, which prints the pid of a child it started."""
    middle = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert middle.stdout is not None
    return middle, int(middle.stdout.readline())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux")
def test_a_child_dies_with_its_sigkilled_parent() -> None:
    assert die_with_parent() is not None
    middle, child = _spawn_middle(
        "import subprocess, time\n"
        "from cli.parentdeath import die_with_parent\n"
        "p = subprocess.Popen(['sleep', '600'], preexec_fn=die_with_parent())\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    try:
        assert running(child)
        middle.kill()
        middle.wait()
        wait_gone(child)
    finally:
        if running(child):
            os.kill(child, signal.SIGKILL)


def test_a_cape_child_stops_when_the_supervisor_pipe_closes() -> None:
    """The portable fallback alone (no parent-death signal): end of file means stop."""
    link = ParentLink()
    proc = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from cli.parentdeath import watch_parent\n"
         "print(watch_parent(), flush=True)\n"
         "time.sleep(600)\n"],
        env=os.environ | link.env(), pass_fds=link.pass_fds, stdout=subprocess.PIPE,
        text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "True"
        assert proc.poll() is None
        link.close()
        assert proc.wait(LIMIT) == -signal.SIGTERM
    finally:
        proc.kill()
        proc.wait()


def test_process_identity_names_one_process_for_its_life() -> None:
    proc = subprocess.Popen(["sleep", "600"])
    try:
        # Popen returns after fork, maybe before exec: wait until the child is `sleep`.
        cmdline = Path(f"/proc/{proc.pid}/cmdline")
        for _ in range(500):
            if cmdline.read_bytes().startswith(b"sleep\0"):
                break
            time.sleep(0.01)
        identity = process_identity(proc.pid)
        assert identity is not None and identity.endswith(" sleep 600")
        assert process_identity(proc.pid) == identity
        assert process_identity(os.getpid()) != identity
    finally:
        proc.kill()
        proc.wait()
    assert process_identity(proc.pid) is None
    assert process_identity(0) is None


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads /proc")
def test_port_holder_names_the_listening_process() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        assert port_holder(port) is None  # bound but not listening: nobody serves it
        sock.listen()
        holder = port_holder(port)
    assert holder is not None and holder.startswith(f"pid {os.getpid()} (")
    assert "python" in holder
    assert port_holder(port) is None
