"""The degraded mode refuses to run, and says so at start (worker log, `cape dev`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from cape.sandbox import probe
from cape.sandbox.degraded import SandboxRefused
from cape.sandbox.launcher import Sandbox
from cli.dev import _warn_about_sandbox


async def test_rlimits_mode_refuses_before_anything_runs(
    make_sandbox: Callable[[str], Sandbox], workspace: Path
) -> None:
    sandbox = make_sandbox("rlimits")
    canary = workspace / "canary"
    with pytest.raises(SandboxRefused) as refused:
        await sandbox.run(["touch", str(canary)], workspace=workspace, limits=sandbox.limits())
    message = str(refused.value)
    assert "cannot isolate commands (sandbox_mode is rlimits)" in message
    assert "CAPE_SANDBOX_MODE=unsafe-rlimits" in message and "NOT contained" in message
    assert not canary.exists()
    await make_sandbox("bwrap").check_isolation()  # bubblewrap works on this machine


async def test_startup_warning_names_the_reason_and_the_fix(
    make_sandbox: Callable[[str], Sandbox], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await make_sandbox("bwrap").startup_warning() is None
    assert await make_sandbox("auto").startup_warning() is None
    refusing = await make_sandbox("rlimits").startup_warning()
    assert refusing is not None and "will be refused" in refusing
    assert "user namespaces" in refusing and "docs/security.md" in refusing
    unsafe = await make_sandbox("unsafe-rlimits").startup_warning()
    assert unsafe is not None and "WITHOUT containment" in unsafe

    monkeypatch.setattr(probe, "_cache", {})
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on this PATH
    auto = await make_sandbox("auto").startup_warning()
    assert auto is not None and "bwrap is not installed" in auto and "will be refused" in auto
    strict = await make_sandbox("bwrap").startup_warning()
    assert strict is not None and "sandbox_mode is bwrap but bubblewrap is unusable" in strict


def test_cape_dev_prints_the_warning(
    make_sandbox: Callable[[str], Sandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    _warn_about_sandbox(make_sandbox("rlimits").settings)
    assert "WARNING: the sandbox cannot isolate commands here" in capsys.readouterr().err
    _warn_about_sandbox(make_sandbox("bwrap").settings)
    assert capsys.readouterr().err == ""
