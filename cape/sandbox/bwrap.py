"""The bubblewrap command line of a run: what the sandboxed command can see.

The new root is an empty tmpfs, remounted read-only at the end. Into it go /usr read-only (and
the /bin, /lib... links or directories of this host), a handful of /etc files that programs
need to start (dynamic linker cache, alternatives, CA certificates), a synthetic /etc/passwd,
/etc/group and /etc/hosts, fresh /proc and /dev, a private size-limited /tmp and the workspace
read-write at /workspace. Nothing else of the host exists inside: not /etc/shadow, /root, /home,
/var or the data directory. There is no network, ever: not even the host's loopback.
"""

from __future__ import annotations

import functools
import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = "/workspace"
# Files and directories of /etc a program may need; read-only, skipped when absent.
ETC = [
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "alternatives",
    "ssl/certs",  # not all of /etc/ssl: /etc/ssl/private holds the host's keys
    "ssl/openssl.cnf",
    "localtime",
    "timezone",
    "mime.types",
    "services",
    "protocols",
]
TOP_LEVEL = ["bin", "sbin", "lib", "lib32", "lib64", "libx32"]
# Where the child (as root, in its own mount namespace) binds the workspace for bwrap to find.
PORTAL_CANDIDATES = ["/mnt", "/media", "/srv", "/opt", "/var/tmp", "/tmp"]


@functools.cache
def portal() -> str:
    """A directory every user can reach, to mount the workspace on (it is hidden only there)."""
    for path in PORTAL_CANDIDATES:
        if os.path.isdir(path) and not os.path.islink(path) and os.stat(path).st_mode & 0o001:
            return path
    return "/tmp"


@dataclass
class Command:
    """A bwrap argv and the pipe read ends it reads file contents from (to pass, then close)."""

    argv: list[str]
    fds: list[int] = field(default_factory=list)

    def close(self) -> None:
        """Close our copies of the pipe ends once the child has them (or was never started)."""
        for fd in self.fds:
            os.close(fd)
        self.fds.clear()


@functools.cache
def _system_args() -> tuple[str, ...]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in TOP_LEVEL:
        path = f"/{name}"
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    etc = [f"/etc/{n}" for n in ETC] + sorted(glob.glob("/etc/python3*"))
    for path in etc:
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    return tuple(args)


def _data(command: Command, path: str, text: str) -> None:
    read, write = os.pipe()
    try:
        os.write(write, text.encode())  # a few hundred bytes: never blocks on a fresh pipe
    finally:
        os.close(write)
    command.fds.append(read)
    command.argv += ["--perms", "0644", "--ro-bind-data", str(read), path]


def build(
    argv: list[str],
    *,
    workspace: Path | None,
    cwd: str,
    uid: int,
    gid: int,
    tmp_bytes: int,
    read_only: Sequence[str] = (),
) -> Command:
    """The bwrap command that runs `argv` in /workspace/`cwd` (`workspace` None: a tmpfs).

    There is never any network: every run gets a new, empty network namespace (the code a run
    starts may be the agent's, and the host's loopback holds Temporal, the database and the API).

    Args:
        argv: The command to run inside.
        workspace: The host directory bound read-write at /workspace.
        cwd: Normalized directory relative to the workspace.
        uid: The uid the command runs as (for the synthetic /etc/passwd).
        gid: Its gid.
        tmp_bytes: Size of the private /tmp and /dev/shm.
        read_only: Host directories shown read-only at the same path (e.g. fetched wheels).
    """
    command = Command(["bwrap", "--unshare-all"])
    command.argv += ["--die-with-parent", "--new-session", "--hostname", "sandbox"]
    command.argv += _system_args()
    passwd = (
        "root:x:0:0:root:/root:/usr/sbin/nologin\n"
        f"sandbox:x:{uid}:{gid}:sandbox:{ROOT}:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    )
    _data(command, "/etc/passwd", passwd)
    _data(command, "/etc/group", f"root:x:0:\nsandbox:x:{gid}:\nnogroup:x:65534:\n")
    hosts = "127.0.0.1\tlocalhost sandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    _data(command, "/etc/hosts", hosts)
    size = str(max(tmp_bytes, 1024 * 1024))
    command.argv += ["--proc", "/proc", "--dev", "/dev"]
    command.argv += ["--size", size, "--tmpfs", "/dev/shm", "--size", size, "--tmpfs", "/tmp"]
    if workspace is None:
        command.argv += ["--tmpfs", ROOT]
    else:
        command.argv += ["--bind", str(workspace), ROOT]
    for path in read_only:
        command.argv += ["--ro-bind", path, path]
    inside = ROOT if cwd in ("", ".") else f"{ROOT}/{cwd}"
    command.argv += ["--chdir", inside, "--remount-ro", "/", "--", *argv]
    return command
