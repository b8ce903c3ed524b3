"""Start one run's child, supervise it, and turn how it ended into a SandboxResult."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import structlog

from cape.sandbox.bwrap import Command
from cape.sandbox.cgroups import RunCgroup
from cape.sandbox.output import OutputCollector
from cape.sandbox.rlimits import ChildSetup
from cape.sandbox.supervise import supervise
from cape.sandbox.types import Isolation, SandboxLimits, SandboxResult

log = structlog.get_logger(__name__)


class _Protocol(asyncio.subprocess.SubprocessStreamProtocol):
    """The stream protocol, plus a future done as soon as the process exited.

    `Process.wait()` also waits for the pipes to close, which a background child holding
    stdout open would put off until a timeout.
    """

    def __init__(self, limit: int, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit, loop)
        self.exited: asyncio.Future[None] = loop.create_future()

    def process_exited(self) -> None:
        super().process_exited()
        if not self.exited.done():
            self.exited.set_result(None)


@dataclass
class Spawn:
    """How to start the child of one run."""

    command: Command
    env: dict[str, str]
    start_dir: Path
    child: ChildSetup
    stdin: bytes | None

    async def start(self) -> tuple[asyncio.subprocess.Process, asyncio.Future[None]]:
        """Start the command through `cape.sandbox.child` (cgroups, rlimits, privilege drop).

        Without a preexec_fn, subprocess starts the child with vfork(): the worker, however
        large, is not copied, and the event loop waits for nothing but the child's exec. The
        child's set-up is then awaited on its status pipe.

        Returns:
            The process and a future done when it has exited (stdout may still be open).

        Raises:
            subprocess.SubprocessError: the child's set-up failed (nothing of the command ran).
            OSError: the command could not be executed (FileNotFoundError: it does not exist).
        """
        loop = asyncio.get_running_loop()
        protocol = _Protocol(2**16, loop)
        status_read, status_write = os.pipe2(os.O_CLOEXEC)
        try:
            transport, _ = await loop.subprocess_exec(
                lambda: protocol,
                *self.child.argv(self.command.argv, self.env, status_write),
                stdin=asyncio.subprocess.DEVNULL if self.stdin is None else asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=self.env,
                cwd=self.start_dir,
                pass_fds=[*self.command.fds, status_write],
                start_new_session=True,
            )
        except BaseException:
            os.close(status_read)
            raise
        finally:
            os.close(status_write)
            self.command.close()
        proc = asyncio.subprocess.Process(transport, protocol, loop)
        try:
            status = await asyncio.to_thread(_read_status, status_read)
        except BaseException:  # cancelled while the child sets up: it must not go on
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            await protocol.exited
            transport.close()
            raise
        if status:
            await protocol.exited
            transport.close()
            kind, _, detail = status.partition(" ")
            if kind == "exec" and detail.isdigit():  # as Popen raises it: FileNotFoundError...
                raise OSError(int(detail), os.strerror(int(detail)))
            raise subprocess.SubprocessError(f"sandbox child {kind} failed: {detail}")
        return proc, protocol.exited


def _read_status(fd: int) -> str:
    """What the child wrote to its status pipe before exec closed it ("" on success)."""
    try:
        chunks = []
        while chunk := os.read(fd, 4096):
            chunks.append(chunk)
        return b"".join(chunks).decode("utf-8", "replace")
    finally:
        os.close(fd)


def check_cwd(root: Path, cwd: str) -> str:
    """`cwd` normalized, if it is an existing directory inside `root` (symlinks resolved)."""
    relative = os.path.normpath(cwd or ".")
    target = (root / relative).resolve()
    if os.path.isabs(cwd) or not target.is_relative_to(root) or not target.is_dir():
        raise ValueError(f"cwd {cwd!r} is not a directory inside the workspace")
    return relative


async def _feed(proc: asyncio.subprocess.Process, data: bytes) -> None:
    """Write stdin, then close it; a command that exits without reading it is fine."""
    assert proc.stdin is not None
    try:
        proc.stdin.write(data)
        await proc.stdin.drain()
        proc.stdin.close()
    except (BrokenPipeError, ConnectionResetError):
        pass


def _result(
    proc: asyncio.subprocess.Process,
    reason: str | None,
    cgroup: RunCgroup,
    collector: OutputCollector,
    isolation: Isolation,
    duration: float,
) -> SandboxResult:
    code = proc.returncode
    assert code is not None
    exit_code = code if code >= 0 else None
    signal_no = -code if code < 0 else None
    if isolation.level == "bwrap" and 128 < code <= 128 + 64:
        signal_no = code - 128  # bwrap reports a command killed by signal N as 128+N
    if reason is None:
        if cgroup.oom_killed():
            reason = "memory limit"
        elif signal_no == signal.SIGXCPU:  # RLIMIT_CPU's soft limit
            reason = "cpu limit"
        elif signal_no == signal.SIGXFSZ:  # RLIMIT_FSIZE
            reason = "file size limit"
    output, truncated = collector.render()
    log.debug("sandbox run ended", exit_code=code, killed=reason, level=isolation.level)
    return SandboxResult(
        exit_code=exit_code,
        signal=signal_no,
        timed_out=reason == "wall timeout",
        idle_timed_out=reason == "idle timeout",
        output=output,
        output_bytes=collector.total,
        truncated=truncated,
        duration_seconds=duration,
        isolation=isolation,
        killed_reason=reason,
    )


async def execute(
    spawn: Spawn,
    limits: SandboxLimits,
    cgroup: RunCgroup,
    isolation: Isolation,
    collector: OutputCollector,
) -> SandboxResult:
    """Start the run, supervise it to its end (see `supervise`) and describe how it ended."""
    await collector.open()
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        proc, exited = await spawn.start()
    except FileNotFoundError:  # rlimits mode: exec failed in the child, like bwrap's 127
        collector.feed(f"{spawn.command.argv[0]}: command not found\n".encode())
        await collector.close(loop.time())
        output, _ = collector.render()
        duration = loop.time() - started
        return SandboxResult(
            127, None, False, False, output, collector.total, False, duration, isolation
        )
    except BaseException as error:
        await collector.close(loop.time(), emit=False)
        if isinstance(error, subprocess.SubprocessError):
            raise RuntimeError(
                "could not start the sandboxed command: the child's setup failed "
                "(cgroup join, rlimits, privilege drop or workspace mount)"
            ) from error
        raise
    stdin = spawn.stdin
    feeder = None if stdin is None else asyncio.ensure_future(_feed(proc, stdin))
    try:
        reason = await supervise(proc, exited, collector, limits, cgroup)
    except BaseException:
        await collector.close(loop.time(), emit=False)  # only the log: the run failed
        raise
    finally:
        if feeder is not None:
            feeder.cancel()
    await collector.close(loop.time())
    return _result(proc, reason, cgroup, collector, isolation, loop.time() - started)
