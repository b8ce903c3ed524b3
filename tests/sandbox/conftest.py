"""A real sandbox on a workspace under pytest's (0700) tmp dir; helpers to find leftovers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from cape.sandbox import cgroups
from cape.sandbox.launcher import Sandbox
from cape.settings import Settings

MODES = ["bwrap", "unsafe-rlimits"]  # rlimits itself refuses to run (see test_degraded)
ROOT = os.geteuid() == 0


@pytest.fixture
def sandbox_settings(tmp_path: Path) -> Settings:
    """Settings with a private data dir and bubblewrap required (no silent degrading)."""
    return Settings(data_dir=tmp_path / "data", sandbox_mode="bwrap")


@pytest.fixture
def make_sandbox(sandbox_settings: Settings) -> Callable[[str], Sandbox]:
    """A Sandbox in the given mode (a CAPE_SANDBOX_MODE value)."""

    def make(mode: str) -> Sandbox:
        return Sandbox(sandbox_settings.model_copy(update={"sandbox_mode": mode}))

    return make


@pytest.fixture
def sandbox(make_sandbox: Callable[[str], Sandbox]) -> Sandbox:
    return make_sandbox("bwrap")


@pytest.fixture
def workspace(sandbox_settings: Settings, sandbox: Sandbox) -> Path:
    path = sandbox_settings.workspace_root / f"task-{uuid.uuid4().hex[:8]}"
    sandbox.prepare_workspace(path)
    return path


def marker() -> str:
    """A number no other process on the machine has in its command line (a sleep length)."""
    return f"1000.{uuid.uuid4().int % 10**9:09d}"


def processes_with(text: str) -> list[int]:
    """Pids of live (non-zombie) processes whose command line contains `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found


def leftover_cgroups() -> list[Path]:
    """Run cgroups of this test process still on disk (every run must remove its own)."""
    prefix = f"{cgroups.PREFIX}-{cgroups.owner()}-"
    left: list[Path] = []
    for base in set(cgroups.hierarchies().bases.values()):
        left += [p for p in base.iterdir() if p.name.startswith(prefix)]
    return left
