"""Path confinement for every host-side access to a workspace (file tools, `workspace_io`).

A path is resolved and checked against the workspace root, then every directory on the way is
opened with O_NOFOLLOW relative to its parent's descriptor, and the descriptor's real path
(/proc/self/fd) is checked again. All further work happens relative to that descriptor, so a
symlink swapped in after the check cannot redirect it; the final component is never followed.
There is deliberately no function that returns a checked path to open later by name. Writes go
to a temporary file that is renamed over the target (a hard or symbolic link at the
target is replaced, never written through).
"""

from __future__ import annotations

import contextlib
import os
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from activities.tools.base import ToolError
from cape.settings import Settings

MiB = 1024 * 1024
RESERVED = frozenset({".venv", ".cape"})  # the task venv and platform state: not for file tools
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # NONBLOCK: a FIFO must not hang a read


@dataclass(frozen=True)
class Limits:
    """The operator settings the file tools obey."""

    output_chars: int
    quota_bytes: int
    owner: tuple[int, int] | None  # chown target; only when running as root

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        """Limits from settings."""
        owner = (settings.sandbox_uid, settings.sandbox_gid) if os.geteuid() == 0 else None
        return cls(settings.tool_output_chars, settings.workspace_quota_mb * MiB, owner)


@dataclass(frozen=True)
class Target:
    """A checked path: resolved parent directories under the root, plus the final name."""

    root: Path
    parts: tuple[str, ...]
    name: str  # "" for the workspace root itself
    shown: str  # the normalized relative path, for messages


def locate(workspace: Path, relative: str) -> Target:
    """Check `relative` lexically and resolve its parent inside the workspace."""
    if not isinstance(relative, str) or not relative.strip() or "\0" in relative:
        raise ToolError("path must be a non-empty string relative to the workspace")
    if os.path.isabs(relative):
        raise ToolError(f"path {relative!r} must be relative to the workspace, e.g. 'notes/a.md'")
    norm = os.path.normpath(relative)
    if norm == ".." or norm.startswith("../"):
        raise ToolError(f"path {relative!r} is outside the workspace")
    try:
        root = workspace.resolve(strict=True)
    except OSError:
        raise ToolError("the task workspace does not exist on this host") from None
    if norm == ".":
        return Target(root, (), "", ".")
    head, name = os.path.split(norm)
    try:
        parent = (root / head).resolve()
    except (OSError, RuntimeError):  # a symlink loop
        raise ToolError(f"path {relative!r} cannot be resolved (symlink loop?)") from None
    if not parent.is_relative_to(root):
        raise ToolError(f"path {relative!r} leads outside the workspace through a symlink")
    return Target(root, parent.relative_to(root).parts, name, norm)


def check_writable(target: Target) -> None:
    """Refuse the workspace root and the reserved top-level directories as write targets."""
    if not target.name:
        raise ToolError("the path is the workspace root itself")
    for first in (target.shown.split("/")[0], (*target.parts, target.name)[0]):
        if first in RESERVED:
            raise ToolError(
                f"{first}/ is reserved (the task venv and platform state); not {target.shown!r}"
            )


def check_inside(fd: int, target: Target) -> None:
    """Check that the open descriptor `fd` really lies inside the workspace root."""
    try:
        real = Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        return  # no /proc: the O_NOFOLLOW walk alone confines it
    if not real.is_relative_to(target.root):
        raise ToolError(f"path {target.shown!r} leads outside the workspace")


def chown(limits: Limits, fd: int | None = None, name: str = "", dir_fd: int = -1) -> None:
    """Give a file (by `fd`, or by `name` in `dir_fd`, not followed) to the sandbox owner."""
    if limits.owner is None:
        return
    uid, gid = limits.owner
    if fd is not None:
        os.fchown(fd, uid, gid)
    else:
        os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)


@contextlib.contextmanager
def parent_dir(target: Target, limits: Limits | None = None) -> Iterator[int]:
    """A descriptor of the target's parent directory; with `limits`, create what is missing."""
    fd = os.open(target.root, DIR_FLAGS)
    try:
        for depth, part in enumerate(target.parts, 1):
            where = "/".join(target.parts[:depth])
            try:
                nxt = os.open(part, DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if limits is None:
                    raise ToolError(f"no directory {where!r} in the workspace") from None
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
                    chown(limits, name=part, dir_fd=fd)
                nxt = os.open(part, DIR_FLAGS, dir_fd=fd)
            except OSError:
                raise ToolError(f"{where!r} is not a directory in the workspace") from None
            os.close(fd)
            fd = nxt
        check_inside(fd, target)
        yield fd
    finally:
        os.close(fd)


def is_link(dir_fd: int, name: str) -> bool:
    """Whether `name` in `dir_fd` is a symbolic link (False if it cannot be checked)."""
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def symlink_error(dir_fd: int, target: Target) -> ToolError:
    """The error for a target that is a symbolic link, naming where it points."""
    try:
        points = os.readlink(target.name, dir_fd=dir_fd)
    except OSError:
        points = "?"
    return ToolError(
        f"{target.shown!r} is a symbolic link (to {points!r}); file tools do not follow links"
    )


def open_file(dir_fd: int, target: Target, flags: int, mode: int = 0o644) -> int:
    """Open the final component without following it; check it is a regular file inside."""
    try:
        fd = os.open(target.name, flags | _FILE, mode, dir_fd=dir_fd)
    except FileNotFoundError:
        raise ToolError(f"no file {target.shown!r} in the workspace") from None
    except IsADirectoryError:
        raise ToolError(f"{target.shown!r} is a directory") from None
    except OSError as exc:
        if is_link(dir_fd, target.name):
            raise symlink_error(dir_fd, target) from None
        raise ToolError(f"cannot open {target.shown!r}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ToolError(f"{target.shown!r} is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise ToolError(f"{target.shown!r} is not a regular file")
        check_inside(fd, target)
    except BaseException:
        os.close(fd)
        raise
    return fd


def workspace_bytes(root: Path) -> int:
    """Bytes used under `root` (every entry, links not followed, walked by descriptor)."""
    total = 0
    with contextlib.suppress(OSError):
        for _, dirs, files, dir_fd in os.fwalk(root):
            for name in dirs + files:
                with contextlib.suppress(OSError):
                    total += os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_size
    return total


def check_quota(limits: Limits, target: Target, growth: int) -> None:
    """Refuse growing the workspace by `growth` bytes past the quota."""
    if growth <= 0:
        return
    used = workspace_bytes(target.root)
    if used + growth > limits.quota_bytes:
        raise ToolError(
            f"writing {target.shown!r} would exceed the workspace quota of "
            f"{limits.quota_bytes // MiB} MiB ({used} bytes used); delete files first"
        )


def replace_file(dir_fd: int, target: Target, data: bytes, limits: Limits) -> None:
    """Write `data` to a temporary file and rename it over the target, keeping its mode."""
    try:
        old = os.stat(target.name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        old = None
    if old is not None and stat.S_ISLNK(old.st_mode):
        raise symlink_error(dir_fd, target)
    if old is not None and not stat.S_ISREG(old.st_mode):
        raise ToolError(f"{target.shown!r} exists and is not a regular file")
    check_quota(limits, target, len(data) - (old.st_size if old else 0))
    mode = stat.S_IMODE(old.st_mode) & 0o777 if old else 0o644
    tmp = f".cape-{uuid.uuid4().hex[:12]}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _FILE, mode, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "wb", closefd=False) as out:
            out.write(data)
        os.fchmod(fd, mode)
        chown(limits, fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, target.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
