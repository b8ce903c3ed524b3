"""A run's child set-up, as a small program the worker execs in place of a `preexec_fn`.

Run as `python -I -S -c <this file> SPEC... argv...` (no site, no environment, no cape imports, not
even json or the enum-based `signal`: it starts in ~10 ms and ~10 MiB). It joins the run's
cgroups, sets the rlimits, binds the workspace portal, drops to the sandbox uid/gid and sets the
parent-death signal and no_new_privs, in the order `cape.sandbox.rlimits` explains, then execs
`argv` with SPEC's environment. Why a program: a `preexec_fn` makes `subprocess` fork() the
whole worker (hundreds of MiB: page tables copied with the GIL held, then the copy torn down at
exec while the event loop waits for it), 20-60 ms per run; without one, `subprocess` uses
vfork() and returns as soon as this program is running. A failure is written to the status
descriptor SPEC names ("setup <message>" or "exec <errno>") before exiting; on success that
descriptor closes at exec with nothing written.

`setup` is also the body of `rlimits.make_preexec` (the sandbox probe still forks).
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # `signal` without its enums: faster start
import ctypes
import os
import resource
import sys

# os.execvpe imports it lazily: after the privilege drop the sandbox user may be unable to read
# the standard library (a Python under /root), so it is imported now.
import warnings  # noqa: F401

PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
CLONE_NEWNS = 0x00020000
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
SETUP_FAILED, EXEC_FAILED = 126, 127

try:
    _libc: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
except OSError:  # not Linux/glibc: the portal is unavailable, the rest still applies
    _libc = None


def _check(result: int) -> None:
    if result != 0:
        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number))


def setup(
    procs_files: list[str],
    rlimits: list[tuple[int, tuple[int, int]]],
    uid: int | None,
    gid: int | None,
    portal: tuple[bytes, bytes] | None,
) -> None:
    """Join cgroups, set rlimits, bind the portal, drop privileges (see the module docs)."""
    libc = _libc
    pid = str(os.getpid()).encode()
    for name in procs_files:
        fd = os.open(name, os.O_WRONLY)
        try:
            os.write(fd, pid)
        finally:
            os.close(fd)
    for which, value in rlimits:
        resource.setrlimit(which, value)
    if portal is not None:
        if libc is None:
            raise OSError("binding the workspace needs Linux's libc (unshare, mount)")
        private, bind = ctypes.c_ulong(MS_REC | MS_PRIVATE), ctypes.c_ulong(MS_BIND)
        _check(libc.unshare(ctypes.c_int(CLONE_NEWNS)))
        _check(libc.mount(b"none", b"/", None, private, None))  # before any mount below
        _check(libc.mount(portal[0], portal[1], None, bind, None))
    if uid is not None and gid is not None:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    if libc is not None:
        zero = ctypes.c_ulong(0)
        kill, one = ctypes.c_ulong(_signal.SIGKILL), ctypes.c_ulong(1)
        _check(libc.prctl(ctypes.c_int(PR_SET_PDEATHSIG), kill, zero, zero, zero))
        _check(libc.prctl(ctypes.c_int(PR_SET_NO_NEW_PRIVS), one, zero, zero, zero))


def spec(
    *,
    procs_files: list[str],
    rlimits: list[tuple[int, tuple[int, int]]],
    uid: int | None,
    gid: int | None,
    portal: tuple[str, str] | None,
    env: dict[str, str],
    status_fd: int,
) -> list[str]:
    """The SPEC arguments of this program, in the order `main` reads them."""
    ids = ["-" if uid is None else str(uid), "-" if gid is None else str(gid)]
    return [
        str(status_fd),
        str(os.getpid()),
        *ids,
        *(portal or ("", "")),
        str(len(procs_files)),
        *procs_files,
        str(len(rlimits)),
        *(f"{which},{soft},{hard}" for which, (soft, hard) in rlimits),
        str(len(env)),
        *(f"{name}={value}" for name, value in env.items()),
    ]


def _take(args: list[str]) -> list[str]:
    """The next counted group of `args` (a count, then that many items), removed from it."""
    count = int(args.pop(0))
    group, args[:] = args[:count], args[count:]
    return group


def main(args: list[str]) -> None:
    """Set up as SPEC says, then exec the command (never returns)."""
    status, parent = int(args.pop(0)), int(args.pop(0))
    try:
        uid, gid, source, target = args[:4]
        del args[:4]
        procs_files = _take(args)
        limits = [[int(n) for n in item.split(",")] for item in _take(args)]
        env = dict(item.split("=", 1) for item in _take(args))
        setup(
            procs_files,
            [(which, (soft, hard)) for which, soft, hard in limits],
            None if uid == "-" else int(uid),
            None if gid == "-" else int(gid),
            (os.fsencode(source), os.fsencode(target)) if source else None,
        )
        if os.getppid() != parent:  # the worker died before PDEATHSIG was set
            raise OSError("the worker exited during the set-up")
    except BaseException as error:  # any failure must reach the worker
        os.write(status, f"setup {error}".encode(errors="replace"))
        os._exit(SETUP_FAILED)
    os.set_inheritable(status, False)  # closed by the exec: the worker reads EOF, success
    # Python ignores these at start and an ignored signal stays ignored across exec: a command
    # over RLIMIT_FSIZE must die of SIGXFSZ (Popen's restore_signals did this for us before).
    for number in (_signal.SIGPIPE, _signal.SIGXFSZ):
        _signal.signal(number, _signal.SIG_DFL)
    try:
        os.execvpe(args[0], args, env)
    except OSError as error:
        os.write(status, f"exec {error.errno or 0}".encode())
        os._exit(EXEC_FAILED)


if __name__ == "__main__":
    main(sys.argv[1:])
