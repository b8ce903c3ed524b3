"""Host-side reads, writes and walks of a workspace, all through `confine`'s descriptors.

The worker (root under `cape dev`) must never open a workspace path by name after checking it:
the agent can swap any entry for a symlink in between (a parallel tool call, an inotify watcher
with renameat2). Everything here opens each component with O_NOFOLLOW relative to its parent's
descriptor and then works on the descriptor: reading a template or an attachment, writing a
PDF, appending the progress note, archiving the workspace for a snapshot.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import structlog

from activities.tools.base import ToolError
from activities.tools.confine import (
    DIR_FLAGS,
    Limits,
    Target,
    check_writable,
    locate,
    open_file,
    parent_dir,
    replace_file,
)

log = structlog.get_logger(__name__)

_ENTRY = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
MAX_TAR_DEPTH = 256  # deeper directories are left out of a snapshot (and logged)


@contextlib.contextmanager
def open_for_read(workspace: Path, relative: str) -> Iterator[tuple[int, Target]]:
    """A read-only descriptor of the regular file `relative` (never through a symlink)."""
    target = locate(workspace, relative)
    if not target.name:
        raise ToolError(f"{relative!r} is the workspace root, not a file")
    with parent_dir(target) as dir_fd:
        fd = open_file(dir_fd, target, os.O_RDONLY)
    try:
        yield fd, target
    finally:
        os.close(fd)


def read_bytes(workspace: Path, relative: str, max_bytes: int) -> bytes:
    """The bytes of the workspace file `relative`, refusing escapes and files over `max_bytes`."""
    with open_for_read(workspace, relative) as (fd, target):
        size = os.fstat(fd).st_size
        if size > max_bytes:
            raise ToolError(f"{target.shown!r} is {size} bytes; the limit is {max_bytes}")
        data = read_fd(fd, max_bytes + 1)
    if len(data) > max_bytes:  # it grew after the check
        raise ToolError(f"{target.shown!r} is over the limit of {max_bytes} bytes")
    return data


def read_fd(fd: int, limit: int) -> bytes:
    """Up to `limit` bytes from `fd`, to its end."""
    chunks, total = [], 0
    while total < limit and (chunk := os.read(fd, min(1 << 20, limit - total))):
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def write_bytes(workspace: Path, relative: str, data: bytes, limits: Limits) -> Target:
    """Create or replace the workspace file `relative` (missing directories are made).

    The file and new directories go to the sandbox user, by descriptor.
    """
    target = locate(workspace, relative)
    check_writable(target)
    with parent_dir(target, limits) as dir_fd:
        replace_file(dir_fd, target, data, limits)
    return target


def remove(workspace: Path, relative: str) -> None:
    """Delete the workspace file `relative` if it is there (a link itself, never its target)."""
    try:
        target = locate(workspace, relative)
        with parent_dir(target) as dir_fd:
            os.unlink(target.name, dir_fd=dir_fd)
    except (ToolError, FileNotFoundError):
        pass


def append_existing(workspace: Path, relative: str, data: bytes) -> bool:
    """Append `data` to the workspace file `relative` if it is there; False when it is not.

    Never creates the file, never writes through a link (symbolic or hard).
    """
    try:
        target = locate(workspace, relative)
        with parent_dir(target) as dir_fd:
            fd = open_file(dir_fd, target, os.O_WRONLY | os.O_APPEND)
    except ToolError:
        return False
    try:
        if os.fstat(fd).st_nlink != 1:
            return False
        os.write(fd, data)
        return True
    finally:
        os.close(fd)


def tar_tree(
    tar: tarfile.TarFile,
    root: Path,
    arcname: str,
    skip: frozenset[str],
    keep: Callable[[tarfile.TarInfo], bool] | None = None,
) -> None:
    """Add the directory `root` to `tar` as `arcname`, by descriptors; top-level `skip` left out.

    `keep`, when given, decides for each regular file whether its content is stored (an
    incremental snapshot leaves out what its base holds); directories and links always are.

    Every entry is opened without following links relative to its directory's descriptor, and
    what goes into the archive is what that descriptor holds: a directory swapped for a symlink
    mid-walk is stored as the symlink (or skipped), never followed. FIFOs, sockets and devices
    are left out.
    """
    fd = os.open(root, DIR_FLAGS)
    try:
        _add_dir(tar, fd, arcname, skip, 0, keep)
    finally:
        os.close(fd)


def _info(name: str, info: os.stat_result, kind: bytes) -> tarfile.TarInfo:
    entry = tarfile.TarInfo(name)
    entry.type = kind
    entry.mode = stat.S_IMODE(info.st_mode)
    entry.uid, entry.gid, entry.mtime = info.st_uid, info.st_gid, int(info.st_mtime)
    entry.size = info.st_size if kind == tarfile.REGTYPE else 0
    return entry


def _add_dir(
    tar: tarfile.TarFile,
    fd: int,
    arcname: str,
    skip: frozenset[str],
    depth: int,
    keep: Callable[[tarfile.TarInfo], bool] | None,
) -> None:
    tar.addfile(_info(arcname, os.fstat(fd), tarfile.DIRTYPE))
    if depth >= MAX_TAR_DEPTH:
        log.warning("snapshot leaves out a too deep directory", path=arcname)
        return
    with os.scandir(fd) as entries:
        names = sorted(entry.name for entry in entries if entry.name not in skip)
    for name in names:
        _add_entry(tar, fd, name, f"{arcname}/{name}", depth, keep)


def _add_entry(
    tar: tarfile.TarFile,
    dir_fd: int,
    name: str,
    arcname: str,
    depth: int,
    keep: Callable[[tarfile.TarInfo], bool] | None,
) -> None:
    """Add one entry; one that vanishes or changes kind under the walk is left out."""
    try:
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if stat.S_ISLNK(info.st_mode):
            entry = _info(arcname, info, tarfile.SYMTYPE)
            entry.linkname = os.readlink(name, dir_fd=dir_fd)
            tar.addfile(entry)
            return
        kind = DIR_FLAGS if stat.S_ISDIR(info.st_mode) else _ENTRY
        if not (stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode)):
            return
        fd = os.open(name, kind, dir_fd=dir_fd)
    except OSError:
        return
    try:
        opened = os.fstat(fd)  # what was opened, not what was checked, goes in
        if stat.S_ISDIR(opened.st_mode):
            _add_dir(tar, fd, arcname, frozenset(), depth + 1, keep)
        elif stat.S_ISREG(opened.st_mode):
            entry = _info(arcname, opened, tarfile.REGTYPE)
            if keep is None or keep(entry):
                with os.fdopen(os.dup(fd), "rb") as handle:
                    tar.addfile(entry, handle)
    finally:
        os.close(fd)
