"""How a run's child starts: through `cape.sandbox.child`, never by forking the worker."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from cape.sandbox import bwrap
from cape.sandbox.execute import Spawn
from cape.sandbox.launcher import Sandbox
from cape.sandbox.rlimits import ChildSetup, Identity
from tests.sandbox.conftest import MODES

_forks: list[int] = []
# Python runs at-fork hooks for os.fork() and for a Popen with a preexec_fn (a full fork of
# this process); a vfork()ed Popen runs none.
os.register_at_fork(before=lambda: _forks.append(os.getpid()))


@pytest.mark.parametrize("mode", MODES)
async def test_a_run_does_not_fork_the_worker(
    make_sandbox: object, workspace: Path, mode: str
) -> None:
    sandbox: Sandbox = make_sandbox(mode)  # type: ignore[operator]
    await sandbox.startup_warning()  # the probe forks, once per process: not a run
    before = len(_forks)
    result = await sandbox.run(
        ["sh", "-c", "echo ok"], workspace=workspace, limits=sandbox.limits()
    )
    assert result.ok and result.output == "ok\n", result.output
    assert len(_forks) == before


@pytest.mark.parametrize("mode", MODES)
async def test_the_command_gets_exactly_the_runs_environment(
    make_sandbox: object, workspace: Path, mode: str
) -> None:
    sandbox: Sandbox = make_sandbox(mode)  # type: ignore[operator]
    result = await sandbox.run(
        ["env"], workspace=workspace, limits=sandbox.limits(), env={"EXTRA": "1"}
    )
    names = {line.partition("=")[0] for line in result.output.splitlines()}
    bwraps = {"PWD"} if mode == "bwrap" else set()  # bwrap sets it after its chdir
    assert names == {"PATH", "LANG", "HOME", "EXTRA", *bwraps}, result.output


async def test_a_missing_program_is_exit_127_in_rlimits_mode(
    make_sandbox: object, workspace: Path
) -> None:
    sandbox: Sandbox = make_sandbox("unsafe-rlimits")  # type: ignore[operator]
    result = await sandbox.run(["no-such-program-x1"], workspace=workspace, limits=sandbox.limits())
    assert result.exit_code == 127
    assert "no-such-program-x1: command not found" in result.output


async def test_a_failed_child_setup_runs_nothing_and_says_why(tmp_path: Path) -> None:
    missing = tmp_path / "no-cgroup" / "cgroup.procs"
    proof = tmp_path / "ran"
    spawn = Spawn(
        bwrap.Command(["sh", "-c", f"touch {proof}"]),
        {"PATH": "/usr/bin:/bin"},
        tmp_path,
        ChildSetup([str(missing)], [], Identity(None, None)),
        None,
    )
    with pytest.raises(subprocess.SubprocessError, match=r"setup failed: .*No such file"):
        await spawn.start()
    assert not proof.exists()
