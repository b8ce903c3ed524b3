"""Sandboxed runs of the execution tools: limits, the output artifact, and the task's venv.

`shell`, `python` and `pip_install` all run through `run_logged`: output streams to the task
while the command runs, the model gets the exit status and head+tail output, and the full log
is stored as an artifact with an id derived from the step, so a retried activity reuses it.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import weakref
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path, PurePosixPath

import structlog

from activities.hostview import HostView, rewrite_file
from activities.tools.base import ToolContext, ToolError, ToolOutput
from cape.filelock import held
from cape.sandbox.launcher import PATH as SANDBOX_PATH
from cape.sandbox.types import SandboxLimits, SandboxResult

log = structlog.get_logger(__name__)

VENV = "/workspace/.venv"
VENV_PYTHON = f"{VENV}/bin/python"
# The venv first, so `python` and `pip` in a shell command are the task's own.
SANDBOX_ENV = {"PATH": f"{VENV}/bin:{SANDBOX_PATH}", "PYTHONUNBUFFERED": "1"}

TIMEOUT_PROPERTY = {
    "type": "number",
    "exclusiveMinimum": 0,
    "description": "Stop the run after this many seconds (capped by the sandbox's own limit).",
}


def workspace_path(workspace: Path, relative: str, what: str, *, file: bool = False) -> str:
    """`relative` normalized, if it names a directory (or `file`) inside the workspace.

    Absolute paths, `..` and symlinks out of the workspace are refused with a ToolError that
    names `what`, the argument the model gave.
    """
    path = PurePosixPath(relative)
    if path.is_absolute():
        raise ToolError(f"{what} {relative!r} must be relative to the workspace")
    normal = os.path.normpath(path.as_posix())
    root = workspace.resolve()
    target = (root / normal).resolve()
    if normal == ".." or normal.startswith("../") or not target.is_relative_to(root):
        raise ToolError(f"{what} {relative!r} is outside the workspace")
    if not (target.is_file() if file else target.is_dir()):
        kind = "file" if file else "directory"
        raise ToolError(f"{what} {relative!r} is not a {kind} in the workspace")
    return normal


def artifact_id(ctx: ToolContext, tool: str) -> str:
    """The id of a step's output log: the same on a retried activity, so nothing duplicates."""
    return hashlib.sha256(f"{ctx.task_id}:{ctx.step_no}:{tool}".encode()).hexdigest()[:32]


def call_limits(ctx: ToolContext, timeout_seconds: float | None) -> SandboxLimits:
    """The agent's sandbox limits; a call's timeout may shorten the wall clock, never extend it."""
    limits = ctx.sandbox.limits(ctx.limits)
    if timeout_seconds is None:
        return limits
    return replace(limits, wall_seconds=min(limits.wall_seconds, float(timeout_seconds)))


async def run_logged(
    ctx: ToolContext,
    tool: str,
    argv: list[str],
    *,
    limits: SandboxLimits,
    read_only: Sequence[Path] = (),
    stdin: bytes | None = None,
    cwd: str = ".",
) -> ToolOutput:
    """Run `argv` in the sandbox, streaming output; keep the full log as an artifact.

    A non-zero exit is a result, not a ToolError: the model reads the exit code and output and
    decides what to do. A kill (timeout, memory) is stated first, so it cannot be missed.
    """
    fd, name = await asyncio.to_thread(tempfile.mkstemp, prefix=f"cape-{tool}-", suffix=".log")
    os.close(fd)
    log_path = Path(name)  # outside the workspace: the sandboxed command cannot touch it
    try:
        result = await ctx.sandbox.run(
            argv,
            workspace=ctx.workspace,
            limits=limits,
            env={**SANDBOX_ENV, **ctx.env},
            read_only=read_only,
            on_output=ctx.emit_output,
            log_path=log_path,
            stdin=stdin,
            cwd=cwd,
        )
        # The log is downloadable: it must show the workspace as the task sees it.
        await asyncio.to_thread(rewrite_file, HostView(ctx.settings, ctx.workspace), log_path)
        info = await ctx.artifacts.put(
            ctx.task_id,
            f"step-{ctx.step_no}-{tool}.log",
            log_path,
            "text/plain",
            step_no=ctx.step_no,
            artifact_id=artifact_id(ctx, tool),
        )
    finally:
        await asyncio.to_thread(log_path.unlink, True)
    log.info("sandboxed run", tool=tool, exit_code=result.exit_code, killed=result.killed_reason)
    return ToolOutput(
        content=describe(result, limits, info.id),
        artifacts=[info.id],
        isolation=result.isolation.as_dict(),
    )


def describe(result: SandboxResult, limits: SandboxLimits, log_id: str) -> str:
    """What the model reads: exit status, any kill and why, then the head+tail output."""
    if result.exit_code is not None:
        lines = [f"exit code: {result.exit_code}"]
    else:
        lines = [f"exit code: none (ended by signal {result.signal})"]
    reason = result.killed_reason or (
        "wall timeout" if result.timed_out else "idle timeout" if result.idle_timed_out else None
    )
    if reason:
        lines.append(
            f"KILLED: {reason}; the command did not finish (limits: {limits.wall_seconds:g}s "
            f"in all, {limits.idle_seconds:g}s without output, "
            f"{limits.memory_bytes // 2**20} MiB memory)"
        )
    cut = ", truncated to its head and tail" if result.truncated else ""
    lines.append(f"output ({result.output_bytes} bytes{cut}; full log in artifact {log_id}):")
    lines.append(result.output if result.output else "(no output)")
    return "\n".join(lines)


# Held only while a call waits on it, so a finished task's lock goes away by itself.
_venv_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()


def _venv_ready(workspace: Path) -> bool:
    venv = workspace / ".venv"
    return (venv / "pyvenv.cfg").is_file() and (venv / "bin" / "python").exists()


def _has_pip(workspace: Path) -> bool:
    return any((workspace / ".venv" / "lib").glob("python*/site-packages/pip/__init__.py"))


async def ensure_venv(ctx: ToolContext, *, with_pip: bool = False) -> None:
    """Create the task's venv at `/workspace/.venv` unless it is there; add pip when asked.

    It is made inside the sandbox, so the sandbox user owns it and its paths are the ones the
    tools use. Without pip it takes milliseconds; pip comes from the interpreter's bundled
    wheel (`ensurepip`, offline) the first time `pip_install` needs it. Calls of one task
    made at once (parallel tool calls) take turns, so two never build the venv together: in
    this process an asyncio lock, across the host's worker processes an `flock` of the
    workspace directory.
    """
    key = str(ctx.workspace)
    lock = _venv_locks.get(key) or _venv_locks.setdefault(key, asyncio.Lock())
    async with lock, held(ctx.workspace):
        await _prepare(ctx, with_pip)


async def _prepare(ctx: ToolContext, with_pip: bool) -> None:
    steps: list[tuple[str, list[str]]] = []
    if not await asyncio.to_thread(_venv_ready, ctx.workspace):
        python = str(ctx.settings.sandbox_python)
        steps.append(("create", [python, "-m", "venv", "--without-pip", "--clear", VENV]))
    if with_pip and (steps or not await asyncio.to_thread(_has_pip, ctx.workspace)):
        steps.append(("add pip to", [VENV_PYTHON, "-m", "ensurepip", "--default-pip"]))
    for what, argv in steps:
        log.info("preparing the task venv", step=what, task_id=ctx.task_id)
        result = await ctx.sandbox.run(
            argv, workspace=ctx.workspace, limits=ctx.sandbox.limits(ctx.limits), env=SANDBOX_ENV
        )
        if not result.ok:
            raise ToolError(
                f"could not {what} the task's Python environment (.venv): "
                f"{result.killed_reason or f'exit code {result.exit_code}'}\n{result.output}"
            )
