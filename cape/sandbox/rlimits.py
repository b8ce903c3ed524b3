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
Everything is computed in the parent: the function itself only makes syscalls, because the
forked child of a threaded process must not take locks or import modules.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
from collections.abc import Callable
from dataclasses import dataclass

from cape.sandbox.types import SandboxLimits

PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
CLONE_NEWNS = 0x00020000
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18

try:
    _libc: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
except OSError:  # not Linux/glibc: the portal is unavailable, the rest still applies
    _libc = None


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


def make_preexec(
    *,
    procs_files: list[str],
    rlimits: list[tuple[int, tuple[int, int]]],
    identity: Identity,
    portal: tuple[str, str] | None = None,
) -> Callable[[], None]:
    """The `preexec_fn` of a sandboxed child (runs in the child, before exec).

    Args:
        procs_files: cgroup.procs files to join.
        rlimits: From `rlimit_values`.
        identity: The ids to switch to.
        portal: (workspace, directory) to bind the workspace onto, in a private mount
            namespace; needs root.
    """
    files = list(procs_files)
    uid, gid = identity.uid, identity.gid
    one, kill = ctypes.c_ulong(1), ctypes.c_ulong(signal.SIGKILL)
    zero = ctypes.c_ulong(0)
    libc = _libc
    if portal is not None and libc is None:
        raise RuntimeError("binding the workspace needs Linux's libc (unshare, mount)")
    source, target = (os.fsencode(p) for p in portal) if portal else (b"", b"")
    private, bind = ctypes.c_ulong(MS_REC | MS_PRIVATE), ctypes.c_ulong(MS_BIND)

    def check(result: int) -> None:
        if result != 0:
            number = ctypes.get_errno()
            raise OSError(number, os.strerror(number))

    def preexec() -> None:
        pid = str(os.getpid()).encode()
        for name in files:
            fd = os.open(name, os.O_WRONLY)
            try:
                os.write(fd, pid)
            finally:
                os.close(fd)
        for which, value in rlimits:
            resource.setrlimit(which, value)
        if portal is not None and libc is not None:
            check(libc.unshare(ctypes.c_int(CLONE_NEWNS)))
            check(libc.mount(b"none", b"/", None, private, None))  # before any mount below
            check(libc.mount(source, target, None, bind, None))
        if uid is not None and gid is not None:
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
        if libc is not None:
            check(libc.prctl(ctypes.c_int(PR_SET_PDEATHSIG), kill, zero, zero, zero))
            check(libc.prctl(ctypes.c_int(PR_SET_NO_NEW_PRIVS), one, zero, zero, zero))

    return preexec
