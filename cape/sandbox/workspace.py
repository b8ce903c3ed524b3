"""Workspace directories owned by the sandbox user.

The workspace's parents are left alone: they may well be private (0700, like pytest's
/tmp/pytest-of-root or a data dir kept from other users). bubblewrap runs as the sandbox uid
and resolves the source of `--bind` (even of `--bind-fd`, via /proc/self/fd) as that user, so
it could not reach such a workspace; the child, still root, instead binds the workspace onto
`mounts.PORTAL` in a mount namespace of its own (see `rlimits.make_preexec`), and bwrap binds
it from there. Granting the sandbox user search permission on the parents (ACLs, o+x) would
also work, but it widens what the degraded rlimits mode can reach, and any later `chmod` of a
parent (pytest does that to its base dir) silently breaks it again.
"""

from __future__ import annotations

import os
from pathlib import Path


def prepare(path: Path, uid: int, gid: int, *, as_root: bool) -> None:
    """Create `path`; as root, give it (recursively, no symlink followed) to uid/gid, mode 0750.

    Args:
        path: The workspace directory.
        uid: The sandbox uid.
        gid: The sandbox gid.
        as_root: Whether we are root (otherwise the directory stays ours).
    """
    path.mkdir(parents=True, exist_ok=True)
    if not as_root:
        return
    # fwalk with dir fds: a symlink (even one swapped in concurrently) is never followed.
    for _, dirs, files, dir_fd in os.fwalk(path, follow_symlinks=False):
        for name in dirs + files:
            os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)
    os.chown(path, uid, gid, follow_symlinks=False)
    os.chmod(path, 0o750, follow_symlinks=False)
