"""What a workspace snapshot stores: bounds, a manifest, and only what changed since a full one.

A snapshot's first tar member is `manifest.json`: every path of the workspace (but `.venv`)
with its kind, size, mtime, mode, inode and link target, and `base`, the full snapshot it adds
to (None: it is full itself). A snapshot with a base holds only the regular files that differ
from the base's manifest, plus every directory and link (cheap); restoring it extracts the
base, removes what the manifest no longer lists or what changed, then extracts it. So a no-op
step after a 200 MB workspace stores a few kilobytes, and a restore reads at most two archives.
When the changed files reach half of the workspace's bytes, the snapshot is full again.

The scan walks directories by descriptor (`os.fwalk`, never following links) and stops at the
operator's bounds (`CAPE_WORKSPACE_SNAPSHOT_MAX_FILES`, `_MAX_MB`) with a clear message.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
TOP = "workspace"  # the workspace's own folder in the archive
SKIP = {".venv"}
Entry = list[Any]  # [kind, size, mtime_ns, mode, inode, link target]


class SnapshotTooLarge(Exception):
    """The workspace is over the snapshot bounds; nothing was stored."""


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "f"
    if stat.S_ISDIR(mode):
        return "d"
    return "l" if stat.S_ISLNK(mode) else "o"


def _entry(name: str, dir_fd: int) -> Entry | None:
    """The signature of `name` in the folder `dir_fd`; None when it is gone meanwhile.

    A parallel step may swap a link for a folder between the stat and the readlink (EINVAL:
    not a link any more): the entry is read again, and left out of this snapshot if it keeps
    changing, as one removed meanwhile is.
    """
    for _ in range(3):
        try:
            info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            kind = _kind(info.st_mode)
            link = os.readlink(name, dir_fd=dir_fd) if kind == "l" else None
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            continue
        size = info.st_size if kind == "f" else 0
        return [kind, size, info.st_mtime_ns, info.st_mode, info.st_ino, link]
    return None


def scan(workspace: Path, max_files: int, max_bytes: int) -> dict[str, Entry]:
    """Every path under `workspace` (but `.venv`) with its signature.

    Raises:
        SnapshotTooLarge: more than `max_files` entries or `max_bytes` in regular files.
    """
    entries: dict[str, Entry] = {}
    total = 0
    for folder, dirs, files, dir_fd in os.fwalk(workspace, follow_symlinks=False):
        relative = os.path.relpath(folder, workspace)
        prefix = "" if relative == "." else f"{relative}/"
        if not prefix:
            dirs[:] = [d for d in dirs if d not in SKIP]
        for name in [*dirs, *files]:
            entry = _entry(name, dir_fd)
            if entry is None:
                continue  # removed meanwhile (a parallel tool call): not in this snapshot
            entries[prefix + name] = entry
            total += entry[1]
            if len(entries) > max_files or total > max_bytes:
                raise SnapshotTooLarge(
                    f"the workspace is over the snapshot limits ({max_files} files, "
                    f"{max_bytes // 2**20} MiB; CAPE_WORKSPACE_SNAPSHOT_MAX_FILES, "
                    "CAPE_WORKSPACE_SNAPSHOT_MAX_MB), so it was not snapshotted: if its host is "
                    "lost, the task goes on from the last snapshot. Delete files to resume "
                    "snapshots."
                )
    return entries


@dataclass
class Plan:
    """One snapshot to write: the manifest and the regular files its base already holds."""

    entries: dict[str, Entry]
    base: str | None = None
    unchanged: set[str] = field(default_factory=set)

    def header(self) -> bytes:
        """The `manifest.json` member."""
        return json.dumps({"version": 1, "base": self.base, "entries": self.entries}).encode()

    def keep(self, info: tarfile.TarInfo) -> bool:
        """Whether the archive stores `info` (an entry named `workspace/...`)."""
        relative = info.name.partition("/")[2]
        return not (info.isreg() and relative in self.unchanged)


def plan(entries: dict[str, Entry], base: str | None, base_entries: dict[str, Entry]) -> Plan:
    """A snapshot adding to `base` (a full snapshot with `base_entries`), or a full one."""
    unchanged = {
        path
        for path, entry in entries.items()
        if entry[0] == "f" and base_entries.get(path) == entry
    }
    total = sum(entry[1] for entry in entries.values())
    changed = total - sum(entries[path][1] for path in unchanged)
    if base is None or changed * 2 > total:
        return Plan(entries)
    return Plan(entries, base, unchanged)


def read_header(archive: Path) -> dict[str, Any] | None:
    """The manifest of a snapshot archive (None for one made before manifests)."""
    with tarfile.open(archive, "r:gz") as tar:
        first = tar.next()
        if first is None or first.name != MANIFEST:
            return None
        member = tar.extractfile(first)
        return None if member is None else dict(json.loads(member.read()))


def prune(tree: Path, entries: dict[str, Entry], stored: set[str]) -> None:
    """Make the restored base `tree` ready for a snapshot's own files.

    Removes what the manifest does not list, what changed kind, and every non-directory the
    snapshot stores again (extracting never writes through an old file or link). `tree` is the
    worker's private staging copy, not a live workspace.
    """
    for folder, dirs, files in os.walk(tree):
        relative = os.path.relpath(folder, tree)
        prefix = "" if relative == "." else f"{relative}/"
        for name in [*dirs, *files]:
            path = Path(folder, name)
            kind = _kind(path.lstat().st_mode)
            entry = entries.get(prefix + name)
            if (
                entry is not None
                and entry[0] == kind
                and (kind == "d" or prefix + name not in stored)
            ):
                continue
            if kind == "d":
                shutil.rmtree(path)
                dirs.remove(name)
            else:
                path.unlink()
