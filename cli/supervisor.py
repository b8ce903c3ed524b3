"""The process supervisor of `cape dev`: children as specs, restarts with backoff, ordered stop.

A child is a `ChildSpec` (name, argv, env, ready check, restart policy); `cape dev` keeps a list
of them and launches them in order. Once all are up, `Supervisor.watch` restarts a child that
exits, after a backoff that doubles with each restart inside the policy's window, and gives up
(raising `GaveUp`) when a child crashes more often than the window allows.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import click

from cli.devpids import PidFile
from cli.parentdeath import ParentLink, die_with_parent


def log_tail(path: Path, lines: int = 25, max_bytes: int = 8192) -> str:
    """The last `lines` lines among the last `max_bytes` bytes of a log ("" if unreadable)."""
    try:
        text = path.read_bytes()[-max_bytes:].decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def describe_exit(code: int) -> str:
    """`SIGKILL` for a child killed by a signal, `exit code N` otherwise."""
    if code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


@dataclass(frozen=True)
class RestartPolicy:
    """When a crashed child is started again, and when the supervisor gives up instead.

    The n-th restart inside `window_seconds` waits `backoff_seconds * 2**(n-1)` (at most
    `max_backoff_seconds`); a crash after `max_restarts` of them gives up. 0 never restarts.
    """

    max_restarts: int = 5
    window_seconds: float = 60.0
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 8.0

    def delay(self, restart: int) -> float:
        """Seconds to wait before restart number `restart` (1-based) of the window."""
        return min(self.backoff_seconds * 2.0 ** (restart - 1), self.max_backoff_seconds)


# A ready check blocks until the child serves; it gets `alive()`, which turns False when the
# child died or a stop was asked, and then simply returns (the supervisor says which).
ReadyCheck = Callable[[Callable[[], bool]], None]


@dataclass(frozen=True)
class ChildSpec:
    """One supervised process."""

    name: str
    argv: list[str]
    env: dict[str, str] | None = None
    ready: ReadyCheck | None = None
    policy: RestartPolicy = RestartPolicy()


@dataclass
class Child:
    """A spec with its current process, restart history and log."""

    spec: ChildSpec
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    restarts: deque[float] = field(default_factory=deque)
    restart_at: float | None = None  # a restart is due at this monotonic time

    @property
    def name(self) -> str:
        """The spec's name."""
        return self.spec.name

    def count_restart(self, now: float) -> int | None:
        """Record a restart at `now`: its number within the window, or None to give up."""
        policy = self.spec.policy
        while self.restarts and now - self.restarts[0] > policy.window_seconds:
            self.restarts.popleft()
        if len(self.restarts) >= policy.max_restarts:
            return None
        self.restarts.append(now)
        return len(self.restarts)

    def exited(self) -> int | None:
        """The exit status of a process that ended (None while it runs or awaits a restart)."""
        if self.proc is None or self.restart_at is not None:
            return None
        return self.proc.poll()


class Stop(Exception):
    """A stop was asked (SIGINT, SIGTERM or SIGHUP)."""


class ChildDied(Exception):
    """A child exited while the stack was starting (nothing is restarted then)."""

    def __init__(self, child: Child) -> None:
        super().__init__(child.name)
        self.child = child


class GaveUp(ChildDied):
    """A child crashed more often than its restart policy allows."""


class Supervisor:
    """Starts children in order, restarts crashed ones, stops them in reverse order."""

    def __init__(
        self,
        log_dir: Path,
        pid_file: PidFile | None = None,
        *,
        stop_timeout: float = 10.0,
        poll_seconds: float = 0.2,
    ) -> None:
        self.log_dir = log_dir
        self.pid_file = pid_file
        self.stop_timeout = stop_timeout
        self.poll_seconds = poll_seconds
        self.children: list[Child] = []
        self.stopping = False
        self._link = ParentLink()
        # Popen runs on the main thread only: PR_SET_PDEATHSIG fires when the forking thread ends.
        self._preexec = die_with_parent()

    def on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        """The SIGINT/SIGTERM/SIGHUP handler: ask the loops to stop."""
        self.stopping = True

    def launch(self, spec: ChildSpec) -> Child:
        """Start `spec` and wait for its ready check.

        Raises:
            Stop: A signal arrived meanwhile.
            ChildDied: This child, or one started before, exited.
        """
        child = Child(spec, self.log_dir / f"{spec.name}.log")
        self.children.append(child)
        self._spawn(child)
        if spec.ready is not None:

            def alive() -> bool:
                return not self.stopping and child.exited() is None

            try:
                spec.ready(alive)
            except Exception:
                self.check()  # a signal or a dead child explains a failed check better
                raise
        self.check()
        return child

    def check(self) -> None:
        """Raise `Stop` on a signal, `ChildDied` when any child exited."""
        if self.stopping:
            raise Stop
        for child in self.children:
            if child.exited() is not None:
                raise ChildDied(child)

    def watch(self) -> None:
        """Restart children that exit, until a signal (`Stop`) or too many crashes (`GaveUp`)."""
        while not self.stopping:
            now = time.monotonic()
            for child in self.children:
                self._tend(child, now)
            time.sleep(self.poll_seconds)
        raise Stop

    def _tend(self, child: Child, now: float) -> None:
        if child.restart_at is not None:
            if now >= child.restart_at:
                child.restart_at = None
                try:
                    self._spawn(child)
                except OSError as exc:  # e.g. the binary was removed meanwhile
                    click.echo(f"{child.name} could not be started again: {exc}", err=True)
                    raise GaveUp(child) from exc
            return
        code = child.exited()
        if code is None:
            return
        count = child.count_restart(now)
        if count is None:
            raise GaveUp(child)
        policy = child.spec.policy
        delay = policy.delay(count)
        click.echo(
            f"{child.name} exited ({describe_exit(code)}); restarting in {delay:g} s "
            f"(restart {count} of {policy.max_restarts} in {policy.window_seconds:g} s)",
            err=True,
        )
        child.restart_at = now + delay

    def _spawn(self, child: Child) -> None:
        with child.log_path.open("ab") as out:
            out.write(f"--- cape dev {datetime.now(UTC).isoformat()} ---\n".encode())
            out.flush()
            env = None if child.spec.env is None else child.spec.env | self._link.env()
            # A session of its own: Ctrl-C reaches only `cape dev`, which stops children in
            # order; the parent-death signal and the pipe stop them if `cape dev` is killed.
            child.proc = subprocess.Popen(
                child.spec.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=self._preexec,
                pass_fds=self._link.pass_fds,
            )
        self._record()

    def _record(self) -> None:
        if self.pid_file is not None:
            pids = {c.name: c.proc.pid for c in self.children if c.proc is not None}
            self.pid_file.write(pids)

    def stop_all(self) -> None:
        """Stop children in reverse start order (API, worker, then Temporal), then forget them."""
        while self.children:
            child = self.children.pop()
            proc = child.proc
            if proc is None or proc.poll() is not None:
                continue  # already gone (or waiting for a restart)
            proc.terminate()
            try:
                proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                click.echo(
                    f"{child.name} did not stop in {self.stop_timeout:g}s; killing it", err=True
                )
                proc.kill()
            if (code := proc.wait()) not in (0, -signal.SIGTERM):  # SIGTERM: stopped early
                click.echo(f"{child.name} exited with code {code}; see {child.log_path}", err=True)
        if self.pid_file is not None:
            self.pid_file.remove()
        self._link.close()
