"""What a sandboxed run is given (limits) and what it gives back (result, isolation)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

MiB = 1024 * 1024


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits of one sandboxed run; `clamp` keeps them within operator ceilings."""

    wall_seconds: float = 60.0
    idle_seconds: float = 30.0
    cpu_seconds: int = 60
    memory_bytes: int = 512 * MiB
    pids: int = 128
    file_size_bytes: int = 64 * MiB
    open_files: int = 256
    output_chars: int = 16 * 1024

    def clamp(self, ceiling: SandboxLimits) -> SandboxLimits:
        """Each limit, but never above the ceiling's."""
        values = {
            f.name: min(getattr(self, f.name), getattr(ceiling, f.name)) for f in fields(self)
        }
        return replace(self, **values)

    def merged(self, overrides: dict[str, Any] | None) -> SandboxLimits:
        """These limits with the known keys of `overrides` (an agent's or a call's) applied."""
        known = {f.name for f in fields(self)}
        return replace(self, **{k: v for k, v in (overrides or {}).items() if k in known})

    def as_dict(self) -> dict[str, Any]:
        """Plain values, for the step record."""
        return asdict(self)


@dataclass
class Isolation:
    """Which protections a run actually had; recorded on the step."""

    level: str  # "bwrap" (namespaces) or "rlimits" (degraded: rlimits + process-group kill)
    network: bool = False  # True when the run was not cut off the network (degraded mode)
    user: int | None = None  # uid the command ran as, outside any namespace
    memory_cgroup: bool = False
    pids_cgroup: bool = False
    cpu_cgroup: bool = False  # CPU time limited for the whole run, not only per process
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain values, for the step record."""
        return asdict(self)


@dataclass
class SandboxResult:
    """How a sandboxed run ended and what it printed (stdout and stderr interleaved)."""

    exit_code: int | None
    signal: int | None
    timed_out: bool  # hit the wall-clock limit
    idle_timed_out: bool  # printed nothing for idle_seconds
    output: str  # head + tail with a truncation marker, for the model
    output_bytes: int  # everything it printed
    truncated: bool
    duration_seconds: float
    isolation: Isolation
    killed_reason: str | None = None  # "wall timeout", "idle timeout", "memory limit", ...

    @property
    def ok(self) -> bool:
        """Exited by itself with status 0."""
        return self.exit_code == 0 and not (self.timed_out or self.idle_timed_out)
