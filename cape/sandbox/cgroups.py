"""Per-run cgroups: memory and pids limits, CPU accounting, and every process of a run.

cgroup v1 (separate `memory`, `pids` and `cpuacct` hierarchies) gets one child cgroup per run
under our own cgroup in each hierarchy (from /proc/self/cgroup); a pure cgroup v2 host gets one
child of our own unified cgroup. CPU time is accounted over the whole run (`cpu_seconds`:
`cpuacct.usage` on v1, `cpu.stat` on v2, which needs no controller), because RLIMIT_CPU counts
per process and every fork starts again from zero. The child process joins the run's cgroups
before it execs (see `rlimits.make_preexec`), so everything it starts, even a daemon that
called setsid, stays in them and can be enumerated and killed. All functions here are
blocking but touch only the cgroup pseudo-filesystem (microseconds); callers run them in a
thread where it matters.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import re
import signal
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from cape.sandbox.types import SandboxLimits

log = structlog.get_logger(__name__)

PREFIX = "cape-sbx"
CONTROLLERS = ("memory", "pids", "cpu")  # "cpu": accounting only (cpuacct on cgroup v1)
V1_NAMES = {"cpuacct": "cpu"}
_counter = itertools.count(1)


@functools.cache
def _pid_namespace() -> int:
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0


def owner() -> str:
    """`<pid namespace inode>-<pid>`, in the names of our run cgroups.

    The hierarchy may be shared with workers in other containers, whose pids mean nothing in
    our /proc: the sweep only touches cgroups of our own pid namespace.
    """
    return f"{_pid_namespace()}-{os.getpid()}"


@dataclass(frozen=True)
class Hierarchies:
    """Where this process may create run cgroups: controller -> our own cgroup directory."""

    version: int  # 1 or 2 (0: none usable)
    bases: dict[str, Path]


def _own_paths() -> dict[str, str]:
    paths: dict[str, str] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            paths[name] = path
    return paths


def _mounts() -> tuple[dict[str, Path], Path | None]:
    v1: dict[str, Path] = {}
    v2: Path | None = None
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, where, kind, options, *_ = line.split()
        if kind == "cgroup":
            for name in ("memory", "pids", "cpuacct"):
                if name in options.split(","):
                    v1[V1_NAMES.get(name, name)] = Path(where)
        elif kind == "cgroup2" and v2 is None:
            v2 = Path(where)
    return v1, v2


@functools.cache
def hierarchies() -> Hierarchies:
    """Our cgroup directories per controller, found once per process; stale runs are swept."""
    try:
        own = _own_paths()
        v1, v2 = _mounts()
    except OSError:
        return Hierarchies(0, {})
    bases: dict[str, Path] = {}
    for name, mount in v1.items():
        hierarchy = "cpuacct" if name == "cpu" else name
        if hierarchy in own:
            bases[name] = mount / own[hierarchy].lstrip("/")
    if bases:
        found = Hierarchies(1, bases)
    elif v2 is not None and "" in own:
        base = v2 / own[""].lstrip("/")
        controllers = set(_read(base / "cgroup.controllers").split())
        limited: dict[str, Path] = {n: base for n in ("memory", "pids") if n in controllers}
        found = Hierarchies(2, {**limited, "cpu": base})  # cpu.stat: in every v2 cgroup
    else:
        found = Hierarchies(0, {})
    for base in set(found.bases.values()):
        _sweep(base)
    return found


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _sweep(base: Path) -> None:
    """Remove run cgroups a crashed worker of our pid namespace left behind (its pid is gone)."""
    pattern = re.compile(rf"{PREFIX}-{_pid_namespace()}-(\d+)-\d+$")
    with contextlib.suppress(OSError):
        for entry in base.iterdir():
            match = pattern.match(entry.name)
            if not match or Path(f"/proc/{match.group(1)}").exists():
                continue
            _kill_members(entry)
            with contextlib.suppress(OSError):
                entry.rmdir()


def _members(directory: Path) -> set[int]:
    return {int(p) for p in _read(directory / "cgroup.procs").split()}


def _kill_members(directory: Path) -> None:
    for pid in _members(directory):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


@dataclass
class RunCgroup:
    """The cgroups of one run; empty `dirs` when the host gives us none."""

    version: int = 0
    dirs: dict[str, Path] = field(default_factory=dict)  # "memory"/"pids" -> directory
    notes: list[str] = field(default_factory=list)

    @property
    def memory(self) -> bool:
        """A memory limit is enforced by a cgroup."""
        return "memory" in self.dirs

    @property
    def pids(self) -> bool:
        """A pids limit is enforced by a cgroup."""
        return "pids" in self.dirs

    @property
    def cpu(self) -> bool:
        """The CPU time of the whole run is accounted by a cgroup (see `cpu_seconds`)."""
        return "cpu" in self.dirs

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) used so far by every process the run ever had, or None."""
        directory = self.dirs.get("cpu")
        if directory is None:
            return None
        if self.version == 1:
            text = _read(directory / "cpuacct.usage").strip()
            return int(text) / 1e9 if text.isdigit() else None
        match = re.search(r"^usage_usec (\d+)$", _read(directory / "cpu.stat"), re.MULTILINE)
        return int(match.group(1)) / 1e6 if match else None

    def procs_files(self) -> list[str]:
        """The `cgroup.procs` files the child writes its pid to before exec."""
        return sorted({str(d / "cgroup.procs") for d in self.dirs.values()})

    def members(self) -> set[int]:
        """Pids of every live process of the run."""
        pids: set[int] = set()
        for directory in set(self.dirs.values()):
            pids |= _members(directory)
        return pids

    def kill_all(self) -> None:
        """SIGKILL every process of the run; forbid new forks first so none slips through."""
        if self.version == 2:
            for directory in set(self.dirs.values()):
                with contextlib.suppress(OSError):
                    _write(directory / "cgroup.kill", "1")
        if "pids" in self.dirs:
            with contextlib.suppress(OSError):
                _write(self.dirs["pids"] / "pids.max", "0")
        for _ in range(3):
            for directory in set(self.dirs.values()):
                _kill_members(directory)

    def oom_killed(self) -> bool:
        """The kernel's OOM killer killed a process of this run (memory limit reached)."""
        directory = self.dirs.get("memory")
        if directory is None:
            return False
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        match = re.search(r"^oom_kill (\d+)$", _read(directory / name), re.MULTILINE)
        if match:
            return int(match.group(1)) > 0
        # Old kernels have no oom_kill counter: the limit was hit at least once.
        return self.version == 1 and _read(directory / "memory.failcnt").strip() not in ("", "0")

    def remove(self) -> bool:
        """Delete the run's cgroups; False if a process is still in one (it is kept then)."""
        removed = True
        for directory in set(self.dirs.values()):
            try:
                directory.rmdir()
            except FileNotFoundError:
                pass
            except OSError as error:
                removed = False
                log.warning("sandbox cgroup not removed", cgroup=str(directory), error=str(error))
        return removed


def create(limits: SandboxLimits) -> RunCgroup:
    """Make the run's cgroups with `limits`; what cannot be made is left out and noted."""
    found = hierarchies()
    run = RunCgroup(version=found.version)
    name = f"{PREFIX}-{owner()}-{next(_counter)}"
    for controller in CONTROLLERS:
        base = found.bases.get(controller)
        if base is None:
            run.notes.append(f"no {controller} cgroup on this host")
            continue
        directory = base / name
        try:
            _make(found.version, controller, base, directory, limits)
        except OSError as error:
            run.notes.append(f"{controller} cgroup unavailable: {error.strerror or error}")
            if directory not in run.dirs.values():  # v2 shares one directory
                with contextlib.suppress(OSError):
                    directory.rmdir()
            continue
        run.dirs[controller] = directory
    return run


def _make(
    version: int, controller: str, base: Path, directory: Path, limits: SandboxLimits
) -> None:
    if version == 2 and controller != "cpu":  # accounting needs no controller enabled
        enabled = _read(base / "cgroup.subtree_control").split()
        if controller not in enabled:
            _write(base / "cgroup.subtree_control", f"+{controller}")
    directory.mkdir(exist_ok=version == 2)
    if controller == "cpu":
        return
    if controller == "memory":
        if version == 2:
            _write(directory / "memory.max", str(limits.memory_bytes))
            with contextlib.suppress(OSError):
                _write(directory / "memory.swap.max", "0")
        else:
            _write(directory / "memory.limit_in_bytes", str(limits.memory_bytes))
            # Without this the run could keep going in swap once it reaches its limit.
            with contextlib.suppress(OSError):
                _write(directory / "memory.memsw.limit_in_bytes", str(limits.memory_bytes))
    else:
        _write(directory / "pids.max", str(limits.pids))
