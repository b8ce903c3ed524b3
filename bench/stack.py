"""The subprocesses of one benchmark run, their logs, CPU use and readiness."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.procstat import (
    MACHINE,
    PG_BACKENDS,
    machine_busy_seconds,
    pg_backends_cpu,
    tree_cpu_seconds,
)
from cli.dev import log_tail

ROOT = Path(__file__).resolve().parents[1]


class BenchError(Exception):
    """The benchmark could not run (a process died, a request failed)."""


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 30) -> str:
        return log_tail(self.log, lines, max_bytes=16384)


@dataclass
class Stack:
    """The subprocesses of one run; stopped in reverse start order."""

    log_dir: Path
    procs: list[Proc] = field(default_factory=list)
    pg_database: str | None = None  # count its PostgreSQL backends' CPU too

    def start(self, name: str, args: Sequence[str], env: dict[str, str] | None = None) -> Proc:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}.log"
        with log.open("ab") as out:
            popen = subprocess.Popen(
                list(args),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=ROOT,
                start_new_session=True,  # Ctrl-C reaches only us; we stop the children in order
            )
        self.procs.append(Proc(name, popen, log))
        return self.procs[-1]

    def get(self, name: str) -> Proc:
        return next(p for p in self.procs if p.name == name)

    def check(self) -> None:
        for proc in self.procs:
            if proc.popen.poll() is not None:
                raise BenchError(
                    f"{proc.name} exited with {proc.popen.returncode}; "
                    f"last lines of {proc.log}:\n{proc.tail()}"
                )

    def cpu(self) -> dict[str, Any]:
        """CPU seconds so far of each process, this one, and the whole machine."""
        times = os.times()
        snapshot: dict[str, Any] = {p.name: tree_cpu_seconds(p.popen.pid) for p in self.procs}
        if self.pg_database is not None:
            snapshot[PG_BACKENDS] = pg_backends_cpu(self.pg_database)
        snapshot["bench client"] = times.user + times.system
        snapshot[MACHINE] = machine_busy_seconds()
        return snapshot

    def stop_all(self) -> None:
        while self.procs:
            proc = self.procs.pop()
            if proc.popen.poll() is None:
                proc.popen.send_signal(signal.SIGTERM)
                try:
                    proc.popen.wait(15)
                except subprocess.TimeoutExpired:
                    proc.popen.kill()
                    proc.popen.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_http(url: str, stack: Stack, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=2) as http:
        while True:
            stack.check()
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"{url} did not answer within {seconds:g} s")
            await asyncio.sleep(0.1)
