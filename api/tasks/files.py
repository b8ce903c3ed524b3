"""A new task's input files: the artifacts a request names, and their copies in the new task.

Referenced artifacts must belong to the caller's team (another team's id is a 404, as
everywhere). Every file, uploaded or referenced, is copied into the new task's own artifacts
before its row commits, so the task keeps its inputs when the source task is deleted, and a
rerun or fork copies them again.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.tasks.schemas import FileRef
from cape.artifacts import ArtifactStore, accepted_type
from cape.db.models import Artifact
from cape.errors import NotFound
from cape.settings import Settings
from cape.task_files import InputFile, check_path, check_set, input_row, invalid, new_input_id

MiB = 1024 * 1024


async def referenced(
    session: AsyncSession,
    settings: Settings,
    store: ArtifactStore,
    team_id: str,
    refs: list[FileRef],
) -> list[InputFile]:
    """The team's artifacts `refs` names, as input files (404 for an id the team lacks)."""
    files = []
    for index, ref in enumerate(refs):
        where = f"body.files.{index}"
        row = await session.scalar(
            select(Artifact).where(Artifact.id == ref.artifact_id, Artifact.team_id == team_id)
        )
        source = store.root / row.task_id / row.id if row is not None else None
        if row is None or source is None or not await asyncio.to_thread(source.is_file):
            raise NotFound(
                f"no artifact {ref.artifact_id!r}",
                details=[{"field": f"{where}.artifact_id", "message": "not found"}],
            )
        path = check_path(ref.path if ref.path is not None else row.name, f"{where}.path")
        media, ok = accepted_type(row.media_type, path, settings.artifact_upload_types)
        if not ok:
            raise invalid(
                f"{where}.artifact_id",
                f"media type {media!r} is not accepted",
                allowed=settings.artifact_upload_types,
            )
        files.append(InputFile(path, source, media, row.size, row.sha256, f"{where}.artifact_id"))
    return files


def check_files(files: list[InputFile], settings: Settings) -> None:
    """Count, total size, per-file size and distinct paths (422 naming the file's field).

    The total is also bounded by the workspace quota, which the files must fit in.
    """
    total = min(settings.task_files_max_mb, settings.workspace_quota_mb) * MiB
    check_set(files, settings.task_files_max_count, total, settings.artifact_max_upload_mb * MiB)


async def copy_inputs(
    store: ArtifactStore, task_id: str, team_id: str, files: list[InputFile]
) -> list[Artifact]:
    """Write the files into `task_id`'s artifacts; the rows are the caller's to add."""
    rows = []
    for file in files:
        artifact_id = new_input_id()
        size, sha = await store.write(task_id, artifact_id, file.source)
        uri = (store.root / task_id / artifact_id).as_uri()
        rows.append(input_row(task_id, team_id, artifact_id, file, size, sha, uri))
    return rows


def drop_copies(store: ArtifactStore, rows: list[Artifact]) -> None:
    """Remove copies whose rows never committed (quick unlinks: safe in a cancelled request)."""
    for row in rows:
        Path(store.root / row.task_id / row.id).unlink(missing_ok=True)


async def input_refs(store: ArtifactStore, task_id: str) -> list[FileRef]:
    """The task's input files as references, for a new task that keeps them (rerun)."""
    return [FileRef(artifact_id=a.id, path=a.name) for a in await store.inputs(task_id)]
