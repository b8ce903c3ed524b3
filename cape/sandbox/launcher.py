"""Run a command in the sandbox: bubblewrap as the unprivileged sandbox user.

Without a working bubblewrap runs are refused (`cape.sandbox.degraded`), unless the operator
chose `CAPE_SANDBOX_MODE=unsafe-rlimits`: then they run uncontained, with rlimits only.

One run: make its cgroups (memory, pids), fork a child that joins them, sets its rlimits and
drops to the sandbox uid/gid (never bubblewrap as root: root mapped into a user namespace is
still root outside), exec `bwrap ... argv` (or `argv` itself in rlimits mode), then pump the
output and enforce the timeouts (`supervise`). Whatever way it ends, every process of the run
is killed and gone, and its cgroups removed, before `run` returns.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from cape.sandbox import bwrap, cgroups, probe
from cape.sandbox import workspace as workspaces
from cape.sandbox.degraded import UNSAFE_MODE, SandboxRefused, refused, startup_warning
from cape.sandbox.execute import Spawn, check_cwd, execute
from cape.sandbox.output import OutputCollector
from cape.sandbox.rlimits import ChildSetup, Identity, rlimit_values
from cape.sandbox.types import Isolation, MiB, SandboxLimits, SandboxResult
from cape.telemetry.spans import observed_run

if TYPE_CHECKING:
    from cape.settings import Settings

OutputCallback = Callable[[str], Awaitable[None]]
log = structlog.get_logger(__name__)

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
OUTPUT_CAP_BYTES = 64 * MiB


class Sandbox:
    """Launches commands under bubblewrap (or degraded rlimits) with the operator's limits."""

    # Output beyond this is not logged and kills the run ("output limit"); tests shrink it.
    output_cap_bytes: int = OUTPUT_CAP_BYTES

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def default_limits(self) -> SandboxLimits:
        """The operator's default limits (settings `sandbox_*`)."""
        return self._from_settings("sandbox_")

    @property
    def ceiling(self) -> SandboxLimits:
        """The operator's ceilings (settings `sandbox_max_*`)."""
        return self._from_settings("sandbox_max_")

    def _from_settings(self, prefix: str) -> SandboxLimits:
        def value(name: str) -> Any:
            return getattr(self.settings, prefix + name)

        return SandboxLimits(
            wall_seconds=value("wall_seconds"),
            idle_seconds=value("idle_seconds"),
            cpu_seconds=value("cpu_seconds"),
            memory_bytes=value("memory_mb") * MiB,
            pids=value("pids"),
            file_size_bytes=value("file_size_mb") * MiB,
            open_files=value("open_files"),
            # What the model may see is the operator's call, never an agent's.
            output_chars=self.settings.tool_output_chars,
        )

    def limits(self, overrides: dict[str, object] | None = None) -> SandboxLimits:
        """Defaults with an agent's/call's overrides applied, clamped to the ceilings."""
        return self.default_limits.merged(overrides).clamp(self.ceiling)

    @property
    def identity(self) -> Identity:
        """The ids runs switch to: the sandbox user as root, else the worker's own (no switch)."""
        if os.geteuid() == 0:
            return Identity(self.settings.sandbox_uid, self.settings.sandbox_gid)
        return Identity(None, None)

    def prepare_workspace(self, path: Path) -> None:
        """Create `path` if needed and give it (recursively) to the sandbox uid/gid when root.

        As root the workspace becomes 0750; its parents are left as they are (runs reach it
        through a private bind mount, see `cape.sandbox.workspace`).
        """
        s = self.settings
        workspaces.prepare(path, s.sandbox_uid, s.sandbox_gid, as_root=os.geteuid() == 0)

    async def level(self) -> tuple[str, list[str], bool]:
        """The isolation level runs get here ("bwrap" or "rlimits"), why, and the portal.

        The last item says whether the workspace goes through `bwrap.portal()`.

        Raises:
            SandboxRefused: sandbox_mode is "bwrap" and bubblewrap does not work here.
        """
        mode = self.settings.sandbox_mode
        if mode in ("rlimits", UNSAFE_MODE):
            return "rlimits", [f"sandbox_mode is {mode}"], False
        uid, gid = self._ids()
        found = await probe.probe(self.identity, uid, gid)
        if found.works:
            notes = [] if found.portal or self.identity.uid is None else ["no workspace portal"]
            return "bwrap", notes, found.portal
        if mode == "bwrap":
            raise refused(f"sandbox_mode is bwrap but bubblewrap is unusable: {found.detail}")
        return "rlimits", [f"bubblewrap unusable, degraded to rlimits: {found.detail}"], False

    async def check_isolation(self) -> None:
        """Raise SandboxRefused unless runs here are isolated (or the operator opted out).

        Raises:
            SandboxRefused: no bubblewrap and sandbox_mode is not `unsafe-rlimits`; the message
                names the reason and the fix.
        """
        level, notes, _ = await self.level()
        self._refuse_unless_isolated(level, notes)

    def _refuse_unless_isolated(self, level: str, notes: list[str]) -> None:
        if level != "bwrap" and self.settings.sandbox_mode != UNSAFE_MODE:
            raise refused("; ".join(notes))

    async def startup_warning(self) -> str | None:
        """What to warn the operator about at start, when runs will not be under bubblewrap."""
        try:
            level, notes, _ = await self.level()
        except SandboxRefused as error:
            return str(error)
        if level == "bwrap":
            return None
        return startup_warning(self.settings.sandbox_mode, "; ".join(notes))

    def _ids(self) -> tuple[int, int]:
        ident = self.identity
        if ident.uid is None or ident.gid is None:
            return os.getuid(), os.getgid()
        return ident.uid, ident.gid

    async def run(
        self,
        argv: list[str],
        *,
        workspace: Path,
        limits: SandboxLimits,
        env: dict[str, str] | None = None,
        read_only: Sequence[Path] = (),
        on_output: OutputCallback | None = None,
        log_path: Path | None = None,
        stdin: bytes | None = None,
        cwd: str = ".",
    ) -> SandboxResult:
        """Run `argv` with only `workspace` writable (mounted at /workspace), without network.

        Args:
            argv: Program and arguments, looked up on PATH inside the sandbox.
            workspace: The task's workspace (made by `prepare_workspace`).
            limits: From `limits()`; every one is enforced (see the module docs).
            env: Extra environment; the rest is only PATH, HOME and LANG (nothing of ours).
            read_only: Host directories the command may read, at the same path (under
                bubblewrap they are bound read-only; nothing else of the host is visible).
            on_output: Gets the merged stdout+stderr as text, at most ~10 times a second.
            log_path: Receives the full output (up to `output_cap_bytes`).
            stdin: Bytes for the command's stdin (otherwise /dev/null).
            cwd: Directory relative to the workspace to start in.

        Returns:
            How it ended, its head+tail output and the isolation it actually had.

        Raises:
            ValueError: `cwd` is not a directory inside the workspace.
            SandboxRefused: bubblewrap does not work here and sandbox_mode is not
                `unsafe-rlimits` (or is "bwrap"): nothing was run.
        """
        if not argv:
            raise ValueError("argv is empty")
        root = await asyncio.to_thread(workspace.resolve)
        relative = await asyncio.to_thread(check_cwd, root, cwd)
        level, notes, use_portal = await self.level()
        self._refuse_unless_isolated(level, notes)  # before anything of the run exists
        uid, gid = self._ids()
        isolation = Isolation(level=level, network=level == "rlimits", user=uid)
        isolation.notes += notes
        if level == "rlimits":
            isolation.notes.append("no namespaces: network not blocked, files guarded by uid only")
        if self.identity.uid is None:
            isolation.notes.append("worker is not root: runs as the worker's own uid")
        cgroup = await asyncio.to_thread(cgroups.create, limits)
        try:
            isolation.memory_cgroup, isolation.pids_cgroup = cgroup.memory, cgroup.pids
            isolation.cpu_cgroup = cgroup.cpu
            if not cgroup.cpu:
                isolation.notes.append("cpu limited per process only: the wall clock bounds a run")
            isolation.notes += cgroup.notes
            if not cgroup.memory:
                isolation.notes.append("memory limited by RLIMIT_AS instead of a cgroup")
            full_env = {"PATH": PATH, "LANG": "C.UTF-8", **(env or {})}
            full_env.setdefault("HOME", bwrap.ROOT if level == "bwrap" else str(root))
            # bwrap, unprivileged, may be unable to reach `root` itself (0700 parents).
            portal = (str(root), bwrap.portal()) if use_portal else None
            if level == "bwrap":
                command = bwrap.build(
                    argv,
                    workspace=Path(portal[1]) if portal else root,
                    cwd=relative,
                    read_only=[str(p) for p in read_only],
                    uid=uid,
                    gid=gid,
                    tmp_bytes=limits.memory_bytes,
                )
                start_dir = root
            else:
                command = bwrap.Command(list(argv))
                start_dir = root / relative
            child = ChildSetup(
                procs_files=cgroup.procs_files(),
                rlimits=rlimit_values(
                    limits, address_space=not cgroup.memory, nproc=self._nproc(limits, cgroup)
                ),
                identity=self.identity,
                portal=portal,
            )
            spawn = Spawn(command, full_env, start_dir, child, stdin)
            collector = OutputCollector(
                output_chars=limits.output_chars,
                cap_bytes=self.output_cap_bytes,
                on_output=on_output,
                log_path=log_path,
            )
            run = execute(spawn, limits, cgroup, isolation, collector)
            return await observed_run(argv[0], level, run)
        finally:
            await asyncio.to_thread(cgroup.remove)

    def _nproc(self, limits: SandboxLimits, cgroup: cgroups.RunCgroup) -> int | None:
        """RLIMIT_NPROC: counted per uid over all runs, so only a backstop to a pids cgroup."""
        if self.identity.uid is None:
            return None  # it would count the worker's own processes too
        return max(limits.pids, self.ceiling.pids * 4) if cgroup.pids else limits.pids
