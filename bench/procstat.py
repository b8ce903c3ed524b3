"""CPU and memory of the benchmark's processes from Linux /proc (zeros or {} elsewhere)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
MACHINE = "machine (all processes)"
PG_BACKENDS = "postgres backends (bench DB)"


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads (Linux /proc; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            fields = file.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def descendants(pid: int) -> list[int]:
    """The live descendants of `pid` (a `cape worker --processes N`'s children; Linux /proc)."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            children = [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            found += [child, *descendants(child)]
    return found


def tree_cpu_seconds(pid: int) -> float:
    """`proc_cpu_seconds` of `pid` and its live descendants (the worker's processes).

    A descendant that exited between two snapshots (a restarted worker process) is missed.
    """
    return sum(proc_cpu_seconds(p) for p in [pid, *descendants(pid)])


def worker_processes(pid: int) -> list[int]:
    """The processes that run a worker: the children of `cape worker --processes N`, else it."""
    return [p for p in descendants(pid) if _is_cape_worker(p)] or [pid]


def _is_cape_worker(pid: int) -> bool:
    try:
        return b"cli\0worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def pg_backends_cpu(database: str) -> dict[int, float]:
    """CPU seconds of the PostgreSQL backends serving `database` (their title names it)."""
    found: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if title.startswith("postgres:") and f" {database} " in title:
            found[int(entry.name)] = proc_cpu_seconds(int(entry.name))
    return found


def machine_busy_seconds() -> float:
    """CPU seconds all CPUs spent not idle since boot (Linux /proc/stat; 0 elsewhere)."""
    try:
        with open("/proc/stat") as file:
            values = [int(v) for v in file.readline().split()[1:9]]
    except OSError:
        return 0.0
    return (sum(values) - values[3] - values[4]) / CLK_TCK


def cpu_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
    """CPU seconds used between two snapshots (see `Stack.cpu`), by name."""
    delta: dict[str, float] = {}
    for name, value in after.items():
        if isinstance(value, dict):  # per pid; backends that exited meanwhile are missed
            old = before.get(name, {})
            delta[name] = sum(v - old.get(pid, 0.0) for pid, v in value.items())
        else:
            delta[name] = value - before.get(name, 0.0)
    return delta


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS since start or the last `reset_peak`) in KiB; {} if gone."""
    try:
        with open(f"/proc/{pid}/status") as file:
            lines = file.read().splitlines()
    except OSError:
        return {}
    found: dict[str, int] = {}
    for line in lines:
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


def reset_peak(pid: int) -> bool:
    """Start VmHWM again from the current RSS (Linux >= 4.0); False if not allowed."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as file:
            file.write("5")
    except OSError:
        return False
    return True
