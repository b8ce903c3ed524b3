"""Workspace files on this host: layout, progress notes, snapshots and restores.

A snapshot is a gzip'd tar of the workspace (without `.venv`, which `python` recreates and
`pip_install` refills) stored as an artifact, so any host can restore it when the workspace's
host is gone.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import tarfile
import tempfile
from pathlib import Path

from activities.tools.workspace_io import append_existing, tar_tree
from cape.artifacts import SNAPSHOT_PREFIX, ArtifactStore

SKIP = frozenset({".venv"})


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


def tar_workspace(workspace: Path, target: Path) -> None:
    """Write `workspace` (without `.venv`) to the gzip'd tar `target`.

    Entries are opened by descriptor (`tar_tree`): a symlink swapped in mid-walk is archived
    as a symlink, never followed to a host file.
    """
    with tarfile.open(target, "w:gz", compresslevel=1) as tar:
        tar_tree(tar, workspace, "workspace", SKIP)


def _untar(archive: Path, workspace: Path) -> None:
    workspace.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=workspace.parent, prefix=f".{workspace.name}-restore-"))
    try:
        with tarfile.open(archive, "r:gz") as tar:
            # The "data" filter refuses absolute paths, `..`, links out of the tree and devices.
            tar.extractall(staging, filter="data")
        if workspace.exists():
            shutil.rmtree(workspace)
        (staging / "workspace").rename(workspace)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


async def save_snapshot(store: ArtifactStore, task_id: str, step_no: int, workspace: Path) -> str:
    """Store the workspace as a snapshot artifact of step `step_no`; returns its id."""
    with tempfile.TemporaryDirectory(prefix="cape-snap-") as tmp:
        archive = Path(tmp) / "workspace.tar.gz"
        await asyncio.to_thread(tar_workspace, workspace, archive)
        info = await store.put(
            task_id,
            f"snapshot-step-{step_no}.tar.gz",
            archive,
            "application/gzip",
            step_no=step_no,
            artifact_id=snapshot_id(task_id, step_no),
        )
    return info.id


async def restore_snapshot(
    store: ArtifactStore, task_id: str, artifact_id: str, workspace: Path
) -> None:
    """Replace `workspace` with the contents of snapshot `artifact_id`."""
    info = await store.get(task_id, artifact_id)
    await asyncio.to_thread(_untar, store.path(info), workspace)


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
