"""Sandboxed runs and the sandbox's kills are counted, by isolation level and by reason."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import REGISTRY

from cape.sandbox.launcher import Sandbox


def _count(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_run_and_an_idle_kill_are_counted(sandbox: Sandbox, workspace: Path) -> None:
    runs, idle = (
        _count("cape_sandbox_runs_total", level="bwrap"),
        _count("cape_sandbox_kills_total", reason="idle timeout"),
    )
    walls = _count("cape_sandbox_kills_total", reason="wall timeout")

    quiet = sandbox.limits({"idle_seconds": 0.5, "wall_seconds": 30})
    killed = await sandbox.run(["sleep", "20"], workspace=workspace, limits=quiet)
    assert killed.killed_reason == "idle timeout"
    fine = await sandbox.run(["true"], workspace=workspace, limits=sandbox.limits())
    assert fine.ok

    assert _count("cape_sandbox_runs_total", level="bwrap") == runs + 2
    assert _count("cape_sandbox_kills_total", reason="idle timeout") == idle + 1
    assert _count("cape_sandbox_kills_total", reason="wall timeout") == walls
