"""Workspace files on this host: layout, progress notes, snapshots and restores.

A snapshot is a gzip'd tar of the workspace (without `.venv`, which `python` recreates and
`pip_install` refills) stored as an artifact, so any host can restore it when the workspace's
host is gone. It holds only what changed since the last full snapshot and stays within the
operator's bounds (`activities.snapshot_plan`).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import shutil
import tarfile
import tempfile
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import structlog

from activities.snapshot_plan import (
    MANIFEST,
    SKIP,
    TOP,
    Entry,
    Plan,
    plan,
    prune,
    read_header,
    scan,
)
from activities.tools.workspace_io import append_existing, tar_tree
from cape.artifacts import SNAPSHOT_PREFIX, ArtifactInfo, ArtifactStore
from cape.errors import NotFound
from cape.settings import Settings

log = structlog.get_logger(__name__)
HEADERS_KEPT = 256  # snapshot manifests kept in memory, the bases of the tasks in flight
_headers: OrderedDict[str, dict[str, Any]] = OrderedDict()


def layout(path: Path, title: str, description: str) -> None:
    """Create `src/`, `output/`, `research/` and a README with the title, description, progress."""
    for sub in ("src", "output", "research"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    readme = path / "README.md"
    if not readme.exists():
        readme.write_text(f"# {title}\n\n{description}\n\n## Progress\n\n- workspace created\n")


def note_progress(path: Path, line: str) -> None:
    """Append one line to the README's progress list (the agent may have removed the file).

    Through `workspace_io`, by descriptor: never through a link the agent put there.
    """
    append_existing(path, "README.md", f"- {line}\n".encode())


def snapshot_id(task_id: str, step_no: int) -> str:
    """A stable artifact id, so a retried step stores its snapshot once."""
    return SNAPSHOT_PREFIX + hashlib.sha256(f"{task_id}:{step_no}".encode()).hexdigest()[:32]


def tar_workspace(workspace: Path, target: Path, plan: Plan | None = None) -> None:
    """Write `workspace` (without `.venv`) to the gzip'd tar `target`.

    A snapshot's `plan` puts its manifest first (reading it never decompresses the files) and
    leaves out what its base holds; without one the whole workspace is written (an archive).

    Entries are opened by descriptor (`tar_tree`): a symlink swapped in mid-walk is archived
    as a symlink, never followed to a host file.
    """
    with tarfile.open(target, "w:gz", compresslevel=1) as tar:
        if plan is not None:
            header = plan.header()
            manifest = tarfile.TarInfo(MANIFEST)
            manifest.size, manifest.mtime = len(header), int(time.time())
            tar.addfile(manifest, io.BytesIO(header))
        tar_tree(tar, workspace, TOP, frozenset(SKIP), None if plan is None else plan.keep)


def _restore_filter(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
    """Tar's "data" filter, except that a symlink may point anywhere.

    The agent may leave `ln -s /etc x` in its workspace: that link means something only inside
    the sandbox, and restoring it as a link is harmless. What the filter still refuses is any
    entry whose name escapes the tree (absolute, `..`) and any entry written *through* a link
    (a parent component that is a symlink on disk), so a restore never writes outside.
    """
    parent = Path(dest)
    for part in Path(member.name).parts[:-1]:
        parent = parent / part
        if parent.is_symlink():
            raise tarfile.OutsideDestinationError(member, str(parent))
    if member.issym():
        name = Path(member.name)
        if name.is_absolute() or ".." in name.parts:
            raise tarfile.OutsideDestinationError(member, member.name)
        return member
    return tarfile.data_filter(member, dest)


def _untar(chain: list[Path], workspace: Path) -> None:
    """Restore `workspace` from a full snapshot and, if it has one, a snapshot adding to it."""
    workspace.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=workspace.parent, prefix=f".{workspace.name}-restore-"))
    try:
        for index, archive in enumerate(chain):
            with tarfile.open(archive, "r:gz") as tar:
                if index:  # the snapshot on top of the base: make room for its own files
                    header = read_header(archive) or {"entries": {}}
                    stored = {m.name.partition("/")[2] for m in tar.getmembers()}
                    prune(staging / TOP, header["entries"], stored)
                members = [m for m in tar.getmembers() if m.name != MANIFEST]
                tar.extractall(staging, members=members, filter=_restore_filter)
        if workspace.exists():
            shutil.rmtree(workspace)
        (staging / TOP).rename(workspace)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


async def _header(store: ArtifactStore, info: ArtifactInfo) -> dict[str, Any] | None:
    """A snapshot's manifest; snapshots never change, so the last ones read are kept."""
    header = _headers.get(info.id)
    if header is None:
        header = await asyncio.to_thread(read_header, store.path(info))
        if header is not None:
            _headers[info.id] = header
            while len(_headers) > HEADERS_KEPT:
                _headers.popitem(last=False)
    return header


async def _plan(
    store: ArtifactStore, earlier: list[ArtifactInfo], entries: dict[str, Entry]
) -> Plan:
    """Add to the task's latest full snapshot among `earlier`, or be a full one.

    A base that cannot be read (gone, damaged) makes this snapshot full: it never depends on it.
    """
    if not earlier:
        return plan(entries, None, {})
    base = earlier[-1]
    try:
        header = await _header(store, base)
        if header is not None and header["base"] is not None:
            base = await store.snapshot(header["base"])
            header = await _header(store, base)
    except (OSError, tarfile.TarError, ValueError, NotFound) as exc:
        log.warning("last snapshot unreadable: storing a full one", error=str(exc))
        header = None
    if header is None:  # also a snapshot from before manifests
        return plan(entries, None, {})
    return plan(entries, base.id, header["entries"])


async def save_snapshot(
    store: ArtifactStore, task_id: str, step_no: int, workspace: Path, settings: Settings
) -> str:
    """Store the workspace as a snapshot artifact of step `step_no`; returns its id.

    Raises:
        SnapshotTooLarge: the workspace is over the operator's snapshot bounds.
    """
    limits = settings.workspace_snapshot_max_files, settings.workspace_snapshot_max_mb * 2**20
    entries = await asyncio.to_thread(scan, workspace, *limits)
    snapshots = await store.snapshots(task_id)
    wanted = snapshot_id(task_id, step_no)
    if any(a.id == wanted for a in snapshots):
        return wanted  # an earlier attempt of this step stored it
    chosen = await _plan(store, [a for a in snapshots if (a.step_no or 0) < step_no], entries)
    with tempfile.TemporaryDirectory(prefix="cape-snap-") as tmp:
        archive = Path(tmp) / "workspace.tar.gz"
        await asyncio.to_thread(tar_workspace, workspace, archive, chosen)
        info = await store.put(
            task_id,
            f"snapshot-step-{step_no}.tar.gz",
            archive,
            "application/gzip",
            step_no=step_no,
            artifact_id=wanted,
            absent=True,
        )
    return info.id


async def restore_snapshot(
    store: ArtifactStore, task_id: str, artifact_id: str, workspace: Path
) -> None:
    """Replace `workspace` with the contents of snapshot `artifact_id`."""
    info = await store.get(task_id, artifact_id)
    chain = [store.path(info)]
    header = await asyncio.to_thread(read_header, chain[0])
    if header is not None and header["base"] is not None:
        # A fork's seed adds to its parent's full snapshot: bases are found by id alone.
        chain.insert(0, store.path(await store.snapshot(header["base"])))
    await asyncio.to_thread(_untar, chain, workspace)


async def snapshot_before(store: ArtifactStore, task_id: str, step_no: int) -> str | None:
    """The latest snapshot taken before step `step_no`, to run that step again from.

    None when there is none, or when a later step has already changed the workspace (parallel
    tool calls of one turn): restoring would undo that step's finished work.
    """
    snaps = await store.snapshots(task_id)
    if any((a.step_no or 0) > step_no for a in snaps):
        return None
    earlier = [a for a in snaps if (a.step_no or 0) < step_no]
    return earlier[-1].id if earlier else None
