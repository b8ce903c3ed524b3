"""Run a command in the sandbox (INTERFACE STUB: being implemented)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from cape.sandbox.types import SandboxLimits, SandboxResult

if TYPE_CHECKING:
    from cape.settings import Settings

OutputCallback = Callable[[str], Awaitable[None]]


class Sandbox:
    """Launches commands under bubblewrap (or degraded rlimits) with the operator's limits."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def default_limits(self) -> SandboxLimits:
        """The operator's default limits (settings `sandbox_*`)."""
        raise NotImplementedError

    @property
    def ceiling(self) -> SandboxLimits:
        """The operator's ceilings (settings `sandbox_max_*`)."""
        raise NotImplementedError

    def limits(self, overrides: dict[str, object] | None = None) -> SandboxLimits:
        """Defaults with an agent's/call's overrides applied, clamped to the ceilings."""
        raise NotImplementedError

    def prepare_workspace(self, path: Path) -> None:
        """Create `path` if needed and give it (recursively) to the sandbox uid/gid when root."""
        raise NotImplementedError

    async def run(
        self,
        argv: list[str],
        *,
        workspace: Path,
        limits: SandboxLimits,
        env: dict[str, str] | None = None,
        network: bool = False,
        on_output: OutputCallback | None = None,
        log_path: Path | None = None,
        stdin: bytes | None = None,
        cwd: str = ".",
    ) -> SandboxResult:
        """Run `argv` with only `workspace` writable (mounted at /workspace)."""
        raise NotImplementedError
