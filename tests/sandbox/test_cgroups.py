"""Run cgroups a crashed worker left behind are swept; other workers' are left alone."""

from __future__ import annotations

import contextlib

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
