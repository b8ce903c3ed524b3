"""Watch a started run: pump its output, enforce the wall and idle timeouts, kill it all.

`supervise` returns once the main process has exited or was killed; in both cases every
other process of the run is SIGKILLed (its process group, and its cgroups, which also hold
daemons that left the group with setsid), and `run` waits until none is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
from pathlib import Path
from typing import Any

import structlog

from cape.sandbox.cgroups import RunCgroup
from cape.sandbox.output import OutputCollector
from cape.sandbox.types import SandboxLimits

log = structlog.get_logger(__name__)

CHUNK = 64 * 1024
DRAIN_SECONDS = 2.0  # after the kill, for output still in the pipe
REAP_SECONDS = 5.0  # for the killed processes to be gone
CPU_CHECK_SECONDS = 0.25  # how often the run's total CPU time is compared with its limit


async def supervise(
    proc: asyncio.subprocess.Process,
    exited: asyncio.Future[None],
    collector: OutputCollector,
    limits: SandboxLimits,
    cgroup: RunCgroup,
) -> str | None:
    """Run to the end; the kill reason ("wall timeout", "idle timeout", "output limit", ...).

    None when the run ended by itself; "cpu limit" when its processes together used up the CPU.
    """
    assert proc.stdout is not None
    loop = asyncio.get_running_loop()
    start = loop.time()
    wall_deadline = start + limits.wall_seconds
    last_output = start
    # RLIMIT_CPU is per process (a fork starts from zero): the run's cgroup counts them all.
    next_cpu_check = start + CPU_CHECK_SECONDS if cgroup.cpu else math.inf
    reading: asyncio.Future[bytes] | None = None
    eof = False
    reason: str | None = None
    try:
        while True:
            if not eof and reading is None:
                reading = asyncio.ensure_future(proc.stdout.read(CHUNK))
            deadline = min(wall_deadline, last_output + limits.idle_seconds)
            flush_at = collector.due()
            wake = min(deadline, next_cpu_check, math.inf if flush_at is None else flush_at)
            waiting: set[asyncio.Future[Any]] = {exited} if reading is None else {exited, reading}
            timeout = max(0.0, wake - loop.time())
            await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            now = loop.time()
            if reading is not None and reading.done():
                chunk = reading.result()
                reading = None
                if not chunk:
                    eof = True
                elif collector.feed(chunk):
                    last_output = now
                else:
                    reason = "output limit"
                    break
            await collector.flush(now)
            if exited.done():
                break
            if now >= next_cpu_check:
                used = cgroup.cpu_seconds()
                if used is not None and used >= limits.cpu_seconds:
                    reason = "cpu limit"
                    break
                next_cpu_check = now + CPU_CHECK_SECONDS
            if now >= wall_deadline:
                reason = "wall timeout"
                break
            if now >= last_output + limits.idle_seconds:
                reason = "idle timeout"
                break
    except BaseException:  # cancelled, or the callback failed: nothing may outlive the run
        kill_run(proc, cgroup)
        if reading is not None:
            reading.cancel()
        await exited
        await wait_gone(proc, cgroup)
        raise
    kill_run(proc, cgroup)
    await _drain(proc, collector, reading, eof)
    await exited
    await wait_gone(proc, cgroup)
    return reason


async def _drain(
    proc: asyncio.subprocess.Process,
    collector: OutputCollector,
    reading: asyncio.Future[bytes] | None,
    eof: bool,
) -> None:
    """Take what is still in the pipe; the writers are dead, so EOF comes quickly."""
    assert proc.stdout is not None
    loop = asyncio.get_running_loop()
    end = loop.time() + DRAIN_SECONDS
    while not eof:
        if reading is None:
            reading = asyncio.ensure_future(proc.stdout.read(CHUNK))
        done, _ = await asyncio.wait({reading}, timeout=max(0.0, end - loop.time()))
        if not done:  # a process we could not kill holds the pipe (no cgroup, setsid)
            reading.cancel()
            log.warning("sandbox output pipe still open after the kill", pid=proc.pid)
            transport = getattr(proc, "_transport", None)
            if transport is not None:
                transport.close()  # or the pipe would stay open in our loop
            return
        chunk = reading.result()
        reading = None
        if not chunk:
            return
        collector.feed(chunk)


def kill_run(proc: asyncio.subprocess.Process, cgroup: RunCgroup) -> None:
    """SIGKILL the run's process group (while its leader is unreaped) and its cgroups."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    cgroup.kill_all()


async def wait_gone(proc: asyncio.subprocess.Process, cgroup: RunCgroup) -> None:
    """Return once no process of the run is alive (or, after REAP_SECONDS, log it)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + REAP_SECONDS
    while True:
        if cgroup.dirs:
            left = cgroup.members()
        else:
            left = await asyncio.to_thread(session_members, proc.pid)
        if not left:
            return
        if loop.time() >= end:
            log.error("sandbox processes survived SIGKILL", pids=sorted(left)[:20])
            return
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(0.005)


def session_members(session: int) -> set[int]:
    """Live processes of session `session` (the run's, when there is no cgroup to ask)."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command: state ppid pgrp session ...
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 3 and fields[0] not in ("Z", "X") and int(fields[3]) == session:
            found.add(int(entry.name))
    return found
