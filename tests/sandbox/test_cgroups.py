"""Run cgroups a crashed worker left behind are swept; other workers' are left alone."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from cape.sandbox import cgroups


def test_stale_run_cgroups_are_swept() -> None:
    found = cgroups.hierarchies()
    if "pids" not in found.bases:
        pytest.skip("no pids cgroup hierarchy here")
    base = found.bases["pids"]
    dead = 2**22 + 7  # above any pid_max: no such process
    namespace = cgroups.owner().split("-")[0]
    stale = base / f"{cgroups.PREFIX}-{namespace}-{dead}-1"
    foreign = base / f"{cgroups.PREFIX}-1-{dead}-1"  # another pid namespace's worker
    stale.mkdir()
    foreign.mkdir()
    try:
        cgroups._sweep(base)
        assert not stale.exists()
        assert foreign.exists()
    finally:
        for path in (stale, foreign):
            with contextlib.suppress(FileNotFoundError):
                path.rmdir()


def test_cpu_seconds_reads_both_cgroup_versions(tmp_path: Path) -> None:
    # This host has one cgroup version; the other's file format is checked on a copy of it.
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n")
    assert cgroups.RunCgroup(2, {"cpu": v2}).cpu_seconds() == 2.5
    v1 = tmp_path / "v1"
    v1.mkdir()
    (v1 / "cpuacct.usage").write_text("1500000000\n")
    assert cgroups.RunCgroup(1, {"cpu": v1}).cpu_seconds() == 1.5
    assert cgroups.RunCgroup(2, {}).cpu_seconds() is None
