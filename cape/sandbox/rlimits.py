"""What the child does between fork and exec: join cgroups, set rlimits, drop privileges.

The order matters: cgroups, rlimits and the workspace portal are set up while still root
(root may raise a hard limit, write any cgroup.procs and mount), then groups, gid and uid are
dropped for good (setres*id, so no saved id can bring root back), and only then the
parent-death signal and no_new_privs are set (a credential change clears the former).
The portal: in a new mount namespace of the child alone (made private first, so nothing
propagates to the host), the workspace is bound onto a directory anyone can reach, for
bubblewrap to bind from there (see `cape.sandbox.workspace` for why). no_new_privs makes
setuid binaries (su, sudo, mount) unable to regain root in the degraded rlimits mode;
bubblewrap sets it anyway.
Runs do this in a small program exec'd as the child (`cape.sandbox.child`: no fork of the
worker); the probe still uses it as a `preexec_fn`, which only makes syscalls, because the
forked child of a threaded process must not take locks or import modules.
"""

from __future__ import annotations

import functools
import os
import resource
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cape.sandbox import child
from cape.sandbox.types import SandboxLimits


@dataclass(frozen=True)
class Identity:
    """Who the child becomes; None keeps the worker's own ids (the worker is not root)."""

    uid: int | None
    gid: int | None


def rlimit_values(
    limits: SandboxLimits, *, address_space: bool, nproc: int | None
) -> list[tuple[int, tuple[int, int]]]:
    """The (resource, (soft, hard)) pairs for a run.

    The CPU hard limit is one second above the soft one: the soft limit sends SIGXCPU (which
    we report as "cpu limit"), the hard one SIGKILLs a process that ignores it.
    `address_space` adds RLIMIT_AS, the memory limit of last resort when no cgroup is
    available (it counts reserved, not used, memory, so it is not the default).
    """
    values = [
        (resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1)),
        (resource.RLIMIT_FSIZE, (limits.file_size_bytes, limits.file_size_bytes)),
        (resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files)),
        (resource.RLIMIT_CORE, (0, 0)),
    ]
    if address_space:
        values.append((resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes)))
    if nproc is not None:
        values.append((resource.RLIMIT_NPROC, (nproc, nproc)))
    if os.geteuid() != 0:
        # Only root may raise a hard limit: stay within the worker's own.
        capped = []
        for which, (soft, hard) in values:
            _, current = resource.getrlimit(which)
            if current != resource.RLIM_INFINITY:
                soft, hard = min(soft, current), min(hard, current)
            capped.append((which, (soft, hard)))
        values = capped
    return values


@functools.cache
def _child_source() -> str:
    # Read once: a package upgraded under a running worker must not pair this worker's SPEC
    # with another version's program.
    return Path(child.__file__).read_text(encoding="utf-8")


@dataclass(frozen=True)
class ChildSetup:
    """What the child of a run does before exec (see the module docs and `cape.sandbox.child`).

    Attributes:
        procs_files: cgroup.procs files to join.
        rlimits: From `rlimit_values`.
        identity: The ids to switch to.
        portal: (workspace, directory) to bind the workspace onto, in a private mount
            namespace; needs root.
    """

    procs_files: list[str]
    rlimits: list[tuple[int, tuple[int, int]]]
    identity: Identity
    portal: tuple[str, str] | None = None

    def argv(self, command: list[str], env: dict[str, str], status_fd: int) -> list[str]:
        """`command` started through `cape.sandbox.child` (no preexec_fn: no fork of ours)."""
        spec = child.spec(
            procs_files=self.procs_files,
            rlimits=self.rlimits,
            uid=self.identity.uid,
            gid=self.identity.gid,
            portal=self.portal,
            env=env,
            status_fd=status_fd,
        )
        return [sys.executable, "-I", "-S", "-c", _child_source(), *spec, *command]

    def preexec(self) -> Callable[[], None]:
        """The same set-up as a `preexec_fn` (runs in the forked child, before exec)."""
        files, rlimits, ident = list(self.procs_files), list(self.rlimits), self.identity
        if self.portal is not None and child._libc is None:
            raise RuntimeError("binding the workspace needs Linux's libc (unshare, mount)")
        portal = None if self.portal is None else tuple(os.fsencode(p) for p in self.portal)

        def preexec() -> None:
            child.setup(files, rlimits, ident.uid, ident.gid, portal)  # type: ignore[arg-type]

        return preexec


def make_preexec(
    *,
    procs_files: list[str],
    rlimits: list[tuple[int, tuple[int, int]]],
    identity: Identity,
    portal: tuple[str, str] | None = None,
) -> Callable[[], None]:
    """The `preexec_fn` of a sandboxed child: `ChildSetup(...).preexec()` (the probe's)."""
    return ChildSetup(procs_files, rlimits, identity, portal).preexec()
