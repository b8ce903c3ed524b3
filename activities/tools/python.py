"""The `python` and `pip_install` tools: Python in the task's venv, inside the sandbox."""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from activities.tools.base import Placement, Risk, ToolContext, ToolError, ToolOutput, ToolSpec
from activities.tools.venv import (
    TIMEOUT_PROPERTY,
    VENV_PYTHON,
    call_limits,
    ensure_venv,
    run_logged,
    workspace_path,
)
from activities.tools.wheels import download_wheels

# PEP 508 name, optional extras, optional version specifiers; no URL, path, marker or option.
_VERSION = r"(?:===|==|!=|<=|>=|~=|<|>)\s*[A-Za-z0-9.*+!_-]+"
REQUIREMENT = re.compile(
    r"(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*"
    r"(?:\[\s*[A-Za-z0-9._-]+(?:\s*,\s*[A-Za-z0-9._-]+)*\s*\])?\s*"
    rf"(?:{_VERSION}(?:\s*,\s*{_VERSION})*)?"
)
# Code given as text is written here (inside the sandbox) so tracebacks show its lines.
RUN_SCRIPT = 'mkdir -p /workspace/.cape && cat > "$0" && exec ' + VENV_PYTHON + ' "$0" "$@"'


def canonical_name(name: str) -> str:
    """A package name as PEP 503 compares it (`Foo_Bar` and `foo-bar` are one package)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def check_requirements(packages: list[str], allow: list[str]) -> list[str]:
    """The requirements, stripped, if each is a plain one whose package the operator allows."""
    if not allow:
        raise ToolError(
            "installing packages is disabled: the operator must set CAPE_PIP_ALLOW "
            "to the packages tasks may install"
        )
    allowed = {canonical_name(name) for name in allow}
    checked = []
    for requirement in packages:
        text = requirement.strip()
        if text.startswith("-"):
            raise ToolError(f"{requirement!r}: pip options are not accepted, only requirements")
        match = REQUIREMENT.fullmatch(text)
        if match is None:
            raise ToolError(
                f"{requirement!r} is not a plain requirement: give a package name with optional "
                "[extras] and version specifiers (e.g. six==1.16.0); URLs and paths are refused"
            )
        if canonical_name(match["name"]) not in allowed:
            raise ToolError(
                f"package {match['name']!r} is not on the operator's allow-list; allowed: "
                + ", ".join(sorted(allow))
            )
        checked.append(text)
    return checked


def check_declared(packages: list[str], declared: list[str] | None) -> None:
    """Refuse a requirement whose package the agent's spec does not list (`pip_allow`)."""
    if declared is None:
        return
    names = {canonical_name(name) for name in declared}
    for text in packages:
        match = REQUIREMENT.fullmatch(text)
        name = match["name"] if match else text
        if canonical_name(name) not in names:
            raise ToolError(
                f"refused: package {name!r} is not one this agent's package declared "
                f"(declared: {', '.join(sorted(declared)) or 'none'})"
            )


async def python(ctx: ToolContext, args: dict[str, Any]) -> ToolOutput:
    """Run `code` or a workspace `file` with the task venv's Python, in the sandbox."""
    code, file = args.get("code"), args.get("file")
    if (code is None) == (file is None):
        raise ToolError("give exactly one of `code` (Python source) or `file` (a .py file)")
    extra: list[str] = args.get("args", [])
    limits = call_limits(ctx, args.get("timeout_seconds"))
    if file is not None:
        if not file.endswith(".py"):
            raise ToolError(f"file {file!r} is not a .py file")
        path = await asyncio.to_thread(workspace_path, ctx.workspace, file, "file", file=True)
        await ensure_venv(ctx)
        argv = [VENV_PYTHON, f"/workspace/{path}", *extra]
        return await run_logged(ctx, "python", argv, limits=limits)
    await ensure_venv(ctx)
    script = f"/workspace/.cape/run-{ctx.step_no}.py"
    argv = ["/bin/sh", "-c", RUN_SCRIPT, script, *extra]
    return await run_logged(ctx, "python", argv, limits=limits, stdin=str(code).encode())


def _share(staging: Path) -> None:
    # Made by root with mkdtemp (0700): the sandbox user must read it, never write it.
    staging.chmod(0o755)
    for wheel in staging.iterdir():
        wheel.chmod(0o644)


async def pip_install(ctx: ToolContext, args: dict[str, Any]) -> ToolOutput:
    """Install allow-listed packages into the task venv: fetched by the host, installed offline.

    See `activities.tools.wheels`: the task's own interpreter never runs with the network.
    """
    packages = check_requirements(args["packages"], ctx.settings.pip_allow)
    check_declared(packages, ctx.limits.get("pip_allow"))
    limits = ctx.sandbox.limits(ctx.limits)
    staging = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="cape-wheels-"))
    try:
        await download_wheels(ctx.settings, packages, staging, limits.wall_seconds)
        await asyncio.to_thread(_share, staging)
        await ensure_venv(ctx, with_pip=True)
        argv = [VENV_PYTHON, "-m", "pip", "install", "--no-input", "--disable-pip-version-check"]
        argv.append("--no-cache-dir")  # a cache would count against the workspace quota
        argv += ["--no-index", "--find-links", str(staging), *packages]
        return await run_logged(ctx, "pip_install", argv, limits=limits, read_only=[staging])
    finally:
        await asyncio.to_thread(shutil.rmtree, staging, True)


TOOLS = [
    ToolSpec(
        name="python",
        description=(
            "Run Python 3 in the task's sandbox with the task's virtualenv (/workspace/.venv, "
            "packages from pip_install). Give exactly one of `code` or `file`. The working "
            "directory is the workspace; there is no network. Returns the exit code and output."
        ),
        parameters={
            "type": "object",
            "properties": {
                "code": {
                    "type": "string",
                    "minLength": 1,
                    "description": "Python source to run (saved as .cape/run-<step>.py).",
                },
                "file": {
                    "type": "string",
                    "minLength": 1,
                    "description": "A .py file to run, relative to the workspace.",
                },
                "args": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Command-line arguments (sys.argv[1:]).",
                },
                "timeout_seconds": TIMEOUT_PROPERTY,
            },
            "additionalProperties": False,
        },
        risk=Risk.EXECUTE,
        placement=Placement.WORKSPACE,
        handler=python,
        needs_isolation=True,
    ),
    ToolSpec(
        name="pip_install",
        description=(
            "Install Python packages into the task's virtualenv for the `python` tool. Only "
            "packages the operator allows can be installed, as wheels (no source builds); give "
            "names with optional versions."
        ),
        parameters={
            "type": "object",
            "properties": {
                "packages": {
                    "type": "array",
                    "items": {"type": "string", "minLength": 1, "maxLength": 200},
                    "minItems": 1,
                    "maxItems": 20,
                    "description": "Requirements such as 'six' or 'requests==2.32.3'.",
                },
            },
            "required": ["packages"],
            "additionalProperties": False,
        },
        risk=Risk.EXECUTE,
        placement=Placement.WORKSPACE,
        handler=pip_install,
        needs_isolation=True,
    ),
]
