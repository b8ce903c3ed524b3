"""`cape dev` as a subprocess for tests: its output read on a thread, its children seen in /proc.

Everything here observes from outside: the children are found by parent pid and command line
in /proc (not from `cape dev`'s pid file), their end by their /proc state.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.harness import ROOT

# How a child of `cape dev` is recognised by its command line.
MARKERS = {"temporal": "server start-dev", "worker": "-m cli worker", "api": "-m cli api"}


def free_ports(count: int) -> list[int]:
    """`count` distinct free TCP ports on 127.0.0.1."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment without CAPE_/TEMPORAL_/OPENAI_ variables of the caller, plus `extra`.

    With no model provider left, `cape dev` runs the bundled scripted LLM as a child.
    """
    prefixes = ("CAPE_", "TEMPORAL_", "OPENAI_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    return env | {"PYTHONUNBUFFERED": "1"} | dict(extra or {})


def dev_command(data_dir: Path, ports: Sequence[int], *extra: str) -> list[str]:
    """`cape dev` on `data_dir` with ports (API, Temporal, UI); `--no-ui` when no UI port."""
    command = [sys.executable, "-m", "cli", "dev", "--data-dir", str(data_dir)]
    command += ["--api-port", str(ports[0]), "--temporal-port", str(ports[1])]
    command += ["--ui-port", str(ports[2])] if len(ports) > 2 else ["--no-ui"]
    return command + list(extra)


def running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie waiting to be reaped is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def children_of(parent: int) -> dict[str, int]:
    """The live children of `parent` that are Temporal, a worker or an API, by name."""
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rpartition(")")[2].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat[1]) != parent or stat[0] in ("Z", "X"):
            continue
        for name, marker in MARKERS.items():
            if marker in cmdline:
                found[name] = int(entry.name)
    return found


class CapeDev:
    """`cape dev` as a subprocess whose output (stdout and stderr) is read on a thread."""

    def __init__(self, command: list[str], env: Mapping[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(env) if env is not None else clean_env(),
            cwd=ROOT,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def _drain(self) -> None:
        while not self.lines.empty():
            self.output.append(self.lines.get())

    def text(self) -> str:
        """Everything printed so far."""
        self._drain()
        return "".join(self.output)

    def mark(self) -> int:
        """The number of lines printed so far (a `start` for `wait_for`)."""
        self._drain()
        return len(self.output)

    def wait_for(self, text: str, timeout: float = 180, start: int = 0) -> str:
        """The first line (from line `start` on) that contains `text`, waiting for it."""
        deadline = time.monotonic() + timeout
        seen = start
        while True:
            self._drain()
            for line in self.output[seen:]:
                if text in line:
                    return line.strip()
            seen = max(seen, len(self.output))
            if time.monotonic() > deadline:
                raise AssertionError(f"no line with {text!r}:\n{self.text()}")
            if self.proc.poll() is not None and self.lines.empty():
                time.sleep(0.2)  # the reader may still hold the last lines
                if self.lines.empty():
                    raise AssertionError(f"cape dev exited before {text!r}:\n{self.text()}")
            time.sleep(0.1)

    def value(self, label: str, timeout: float = 180) -> str:
        """The value of a banner line such as `Dev API key:`."""
        return self.wait_for(label, timeout).split(label, 1)[1].strip()

    def children(self) -> dict[str, int]:
        """The live Temporal, worker and API children, by name."""
        return children_of(self.proc.pid)

    def interrupt(self, timeout: float = 90, sig: int = signal.SIGINT) -> int:
        """Ctrl-C (SIGINT, or `sig`) and wait for the exit status."""
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        time.sleep(0.2)  # let the reader thread drain
        self._drain()
        return code

    def close(self) -> None:
        """SIGKILL if still running (the end of a failed test)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def start_dev(
    data_dir: Path, env: Mapping[str, str], *extra: str, attempts: int = 3
) -> tuple[CapeDev, list[int], str]:
    """`cape dev` on free ports (API, Temporal) and its dev API key, once it printed it.

    A port that was free when picked can be bound by another process before `cape dev` binds it
    (a Temporal server of a run beside this one listens on ephemeral ports too): `cape dev` then
    exits naming the port, and it is started again on newly picked ones.
    """
    for attempt in range(1, attempts + 1):
        ports = free_ports(2)
        dev = CapeDev(dev_command(data_dir, ports, *extra), env)
        try:
            return dev, ports, dev.value("Dev API key:")
        except AssertionError as err:
            dev.close()
            if attempt == attempts or "is already in use" not in str(err):
                raise
    raise AssertionError("unreachable")  # the loop returns or raises
