"""The artifact store: files a task produced or received, on disk with a row in `artifacts`.

Files live under `<artifact_root>/<task_id>/<artifact_id>`; with workers on several hosts the
root is a shared volume, so any worker and the API can read what another stored.
"""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import mimetypes
import shutil
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cape.db.engine import read_only
from cape.db.models import Artifact, Task
from cape.errors import NotFound

# Workspace snapshots are artifacts whose id starts with this (one per step that changed it).
SNAPSHOT_PREFIX = "snap-"
# A task's input files (`POST /v1/tasks` with files) are artifacts whose id starts with this;
# the name is the file's path under the workspace's `input/` (cape.task_files).
INPUT_PREFIX = "in-"
RECENT = 256  # infos of the latest puts kept (`ArtifactStore.recent`)


@dataclass(frozen=True)
class ArtifactInfo:
    """An artifact's metadata."""

    id: str
    task_id: str
    name: str
    media_type: str
    size: int
    sha256: str
    step_no: int | None


def accepted_type(declared: str | None, name: str, allowed: list[str]) -> tuple[str, bool]:
    """The media type of an incoming file and whether `allowed` (patterns like `text/*`) takes it.

    An empty or `application/octet-stream` type (what clients send for "unknown") is guessed
    from the name.
    """
    media = (declared or "").split(";")[0].strip().lower()
    if media in ("", "application/octet-stream"):
        media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    for pattern in allowed:
        pattern = pattern.lower()
        if media == pattern or (pattern.endswith("/*") and media.startswith(pattern[:-1])):
            return media, True
    return media, False


def _info(row: Artifact) -> ArtifactInfo:
    return ArtifactInfo(
        row.id, row.task_id, row.name, row.media_type, row.size, row.sha256, row.step_no
    )


def _copy(source: Path | bytes, target: Path) -> tuple[int, str]:
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    tmp = target.with_suffix(".part")
    with tmp.open("wb") as out:
        if isinstance(source, bytes):
            out.write(source)
            digest.update(source)
            size = len(source)
        else:
            with source.open("rb") as src:
                while chunk := src.read(1024 * 1024):
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
    tmp.replace(target)
    return size, digest.hexdigest()


class ArtifactStore:
    """Stores and finds artifacts; file copies run off the event loop."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], root: Path) -> None:
        self.sessions = sessions
        self.reads = read_only(sessions)  # lookups never take SQLite's write lock
        self.root = root
        # What this process stored last: a step names its own artifacts in its closing events
        # without reading their rows back (`recent`).
        self._recent: OrderedDict[str, ArtifactInfo] = OrderedDict()

    def path(self, info: ArtifactInfo) -> Path:
        """Where the artifact's bytes are."""
        return self.root / info.task_id / info.id

    async def write(self, task_id: str, artifact_id: str, source: Path | bytes) -> tuple[int, str]:
        """Copy bytes into the store without a row (the caller adds it); gives size, sha256."""
        return await asyncio.to_thread(_copy, source, self.root / task_id / artifact_id)

    async def inputs(self, task_id: str) -> builtins.list[ArtifactInfo]:
        """The task's input files, by path."""
        async with self.reads() as session:
            rows = await session.scalars(
                select(Artifact)
                .where(Artifact.task_id == task_id, Artifact.id.startswith(INPUT_PREFIX))
                .order_by(Artifact.name)
            )
            return [_info(r) for r in rows]

    async def put(
        self,
        task_id: str,
        name: str,
        source: Path | bytes,
        media_type: str = "application/octet-stream",
        *,
        step_no: int | None = None,
        artifact_id: str | None = None,
        absent: bool = False,
    ) -> ArtifactInfo:
        """Store bytes or a file's contents; a given `artifact_id` makes retries idempotent.

        `absent`: the caller has just seen that no artifact `artifact_id` exists (the file is
        then written without looking again; the row is still added only once).
        """
        artifact_id = artifact_id or uuid.uuid4().hex
        if not absent:
            async with self.reads() as session:
                existing = await session.get(Artifact, artifact_id)
                if existing is not None:
                    return _info(existing)
        target = self.root / task_id / artifact_id
        size, sha = await asyncio.to_thread(_copy, source, target)
        row = Artifact(
            id=artifact_id,
            task_id=task_id,
            step_no=step_no,
            name=name,
            media_type=media_type,
            size=size,
            sha256=sha,
            uri=target.as_uri(),
        )
        async with self.sessions.begin() as session:
            if await session.get(Artifact, artifact_id) is None:
                # The task's team, read in the transaction that adds the row.
                team_id = await session.scalar(select(Task.team_id).where(Task.id == task_id))
                row.team_id = team_id or ""
                session.add(row)
        info = _info(row)
        self._recent[info.id] = info
        while len(self._recent) > RECENT:
            self._recent.popitem(last=False)
        return info

    def recent(self, task_id: str, artifact_id: str) -> ArtifactInfo | None:
        """An artifact this store put a moment ago (None: ask `get`)."""
        info = self._recent.get(artifact_id)
        return info if info is not None and info.task_id == task_id else None

    async def get(self, task_id: str, artifact_id: str) -> ArtifactInfo:
        """The artifact `artifact_id` of `task_id`, or NotFound."""
        async with self.reads() as session:
            row = await session.get(Artifact, artifact_id)
        if row is None or row.task_id != task_id:
            raise NotFound(f"no artifact {artifact_id!r} on task {task_id!r}")
        return _info(row)

    async def snapshot(self, artifact_id: str) -> ArtifactInfo:
        """A workspace snapshot by id alone (a fork's seed adds to its parent's), or NotFound."""
        async with self.reads() as session:
            row = await session.get(Artifact, artifact_id)
        if row is None or not artifact_id.startswith(SNAPSHOT_PREFIX):
            raise NotFound(f"no workspace snapshot {artifact_id!r}")
        return _info(row)

    async def list(self, task_id: str) -> list[ArtifactInfo]:
        """Every artifact of the task, oldest first."""
        async with self.reads() as session:
            rows = await session.scalars(
                select(Artifact).where(Artifact.task_id == task_id).order_by(Artifact.created_at)
            )
            return [_info(r) for r in rows]

    async def snapshots(self, task_id: str) -> builtins.list[ArtifactInfo]:
        """The task's workspace snapshots, by step."""
        async with self.reads() as session:
            rows = await session.scalars(
                select(Artifact)
                .where(Artifact.task_id == task_id, Artifact.id.startswith(SNAPSHOT_PREFIX))
                .order_by(Artifact.step_no)
            )
            return [_info(r) for r in rows if r.step_no is not None]

    async def delete_task(self, task_id: str) -> None:
        """Remove a task's artifact files (rows go with the task)."""
        for gone in [key for key, info in self._recent.items() if info.task_id == task_id]:
            del self._recent[gone]
        await asyncio.to_thread(shutil.rmtree, self.root / task_id, True)
