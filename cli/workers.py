"""`cape worker --processes N`: N worker processes on one host, supervised by the command.

One Python process runs its workflows and activities on one core, so a host runs one worker
process per core. Every process is a whole `cape worker` on the shared task queue *and* on
this host's own queue (`<queue>@<host id>`): a host queue means "a step that needs this
host's disk" (a task's workspace is a directory under the data dir), and every process on the
host has that disk, so any of them may run any of its workspaces' steps. Giving the host
queue to one process only would put every sandboxed tool step, the most expensive step, on
one core. What must not run twice on one workspace at once is guarded across processes:
building its venv (`activities/tools/venv.py`, an `flock`) and the retention sweep
(`worker/retention.py`, one sweeper per data dir at a time).

The supervisor here restarts a child that exits, with the same backoff as `cape dev`
(`cli.supervisor.RestartPolicy`), and stops all children and exits 1 when one crashes more
often than the policy allows. SIGTERM or SIGINT stops all children at once (each finishes its
running activities within its graceful shutdown) and exits 0. Children die with it when it is
killed (`cli.parentdeath`).
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import structlog

from cape.settings import Settings
from cli.parentdeath import ParentLink, die_with_parent
from cli.supervisor import RestartPolicy, describe_exit

log = structlog.get_logger(__name__)
WORKER_INDEX_ENV = "CAPE_WORKER_INDEX"  # which child (0-based): `worker_process` in its logs
STOP_GRACE_SECONDS = 20.0  # above the Worker's 10 s graceful shutdown, then SIGKILL
POLL_SECONDS = 0.2


def worker_processes(settings: Settings, asked: int | None) -> int:
    """How many processes `cape worker` runs: `--processes`, the setting, else the cores."""
    count = asked if asked is not None else settings.worker_processes
    if count > 0:
        return count
    # The cores this process may run on (a container's cpuset), not all the machine's.
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return len(cores) if cores else (os.cpu_count() or 1)


def child_env(settings: Settings, processes: int, index: int) -> dict[str, str]:
    """A child's environment: this one's, with its index and its share of the database pool.

    The pool settings size the whole worker (what the database must allow); each process gets
    an equal share, so N processes do not open N times the connections.
    """
    return os.environ | {
        WORKER_INDEX_ENV: str(index),
        "CAPE_WORKER_PROCESSES": "1",
        "CAPE_DB_POOL_SIZE": str(max(1, math.ceil(settings.db_pool_size / processes))),
        "CAPE_DB_MAX_OVERFLOW": str(math.ceil(settings.db_max_overflow / processes)),
    }


class WorkerProcesses:
    """N `cape worker --processes 1` children, restarted when they exit, stopped together."""

    def __init__(
        self,
        settings: Settings,
        processes: int,
        data_dir: Path | None,
        policy: RestartPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.processes = processes
        self.argv = [sys.executable, "-m", "cli", "worker", "--processes", "1"]
        if data_dir is not None:
            self.argv += ["--data-dir", str(data_dir)]
        self.policy = policy or RestartPolicy()
        self.children: list[subprocess.Popen[bytes] | None] = [None] * processes
        self.restarts: list[list[float]] = [[] for _ in range(processes)]
        self.restart_at: list[float | None] = [None] * processes
        self.stopping = False
        self._link = ParentLink()
        # Popen on the main thread only: PR_SET_PDEATHSIG fires when the forking thread ends.
        self._preexec = die_with_parent()

    def on_signal(self, signum: int, _frame: object) -> None:
        """SIGTERM/SIGINT: stop every child, then exit."""
        self.stopping = True

    def run(self) -> int:
        """Start the children and tend them until a signal (0) or a child gives up (1)."""
        for index in range(self.processes):
            self._spawn(index)
        log.info(
            "worker processes started",
            processes=self.processes,
            pids=[child.pid for child in self.children if child is not None],
        )
        code = 0
        try:
            while not self.stopping:
                if not all(self._tend(index) for index in range(self.processes)):
                    code = 1
                    break
                time.sleep(POLL_SECONDS)
        finally:
            self.stop()
        return code

    def _spawn(self, index: int) -> None:
        env = child_env(self.settings, self.processes, index) | self._link.env()
        # stdout and stderr are this command's: the children log where `cape worker` logs.
        self.children[index] = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # Ctrl-C reaches this process only, which stops them all
            preexec_fn=self._preexec,
            pass_fds=self._link.pass_fds,
        )

    def _tend(self, index: int) -> bool:
        """Restart child `index` when it exited and its delay is over; False: crashed too often."""
        now = time.monotonic()
        due = self.restart_at[index]
        if due is not None:
            if now >= due:
                self.restart_at[index] = None
                self._spawn(index)
            return True
        child = self.children[index]
        if child is None or (code := child.poll()) is None:
            return True
        recent = [t for t in self.restarts[index] if now - t <= self.policy.window_seconds]
        self.restarts[index] = recent
        if len(recent) >= self.policy.max_restarts:
            log.error(
                "worker process keeps exiting; stopping all",
                index=index,
                exit=describe_exit(code),
                restarts=len(recent),
            )
            return False
        recent.append(now)
        delay = self.policy.delay(len(recent))
        log.warning(
            "worker process exited; restarting",
            index=index,
            pid=child.pid,
            exit=describe_exit(code),
            delay_seconds=delay,
        )
        # The others are tended meanwhile: the restart waits in `restart_at`, not in a sleep.
        self.restart_at[index] = now + delay
        return True

    def stop(self) -> None:
        """SIGTERM every child at once, wait for them, SIGKILL what outlives the grace."""
        running = [c for c in self.children if c is not None and c.poll() is None]
        for child in running:
            child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in running:
            try:
                child.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker process did not stop; killing it", pid=child.pid)
                child.kill()
                child.wait()
        self._link.close()
        log.info("worker processes stopped", processes=self.processes)


def run_worker_processes(settings: Settings, processes: int, data_dir: Path | None) -> int:
    """Run `processes` worker processes until SIGTERM/SIGINT; the command's exit status."""
    group = WorkerProcesses(settings, processes, data_dir)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, group.on_signal)
    return group.run()
