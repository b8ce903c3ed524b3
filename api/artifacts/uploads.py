"""Reading an upload: the multipart body under its own limit, the file's name and media type.

The upload route reads its own body under `artifact_max_upload_mb` (the global body limit
lets it through, see `api.middleware.body_limit.OWN_LIMIT_ROUTES`) so a too-large upload is
cut off while it streams in, never buffered whole.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import FormData, UploadFile
from starlette.types import Message

from api.artifacts.schemas import ArtifactOut
from cape.artifacts import ArtifactInfo, ArtifactStore, accepted_type
from cape.db.models import Artifact
from cape.errors import InvalidInput, NotFound, PayloadTooLarge
from cape.settings import Settings

MiB = 1024 * 1024
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around the file's bytes
MAX_NAME_CHARS = 255


def artifact_out(
    info: ArtifactInfo | Artifact, settings: Settings, created: datetime | None
) -> ArtifactOut:
    """The API view of an artifact, with its download URL."""
    url = f"{settings.base_url}/v1/tasks/{info.task_id}/artifacts/{info.id}"
    return ArtifactOut(
        id=info.id, task_id=info.task_id, name=info.name, media_type=info.media_type,
        size=info.size, sha256=info.sha256, step_no=info.step_no, created_at=created,
        download_url=url,
    )  # fmt: skip


async def list_artifacts(
    session: AsyncSession, settings: Settings, task_id: str
) -> list[ArtifactOut]:
    """The task's artifacts, oldest first."""
    rows = await session.scalars(
        select(Artifact)
        .where(Artifact.task_id == task_id)
        .order_by(Artifact.created_at, Artifact.id)
    )
    return [artifact_out(row, settings, row.created_at) for row in rows]


async def artifact_file(
    store: ArtifactStore, task_id: str, artifact_id: str
) -> tuple[ArtifactInfo, Path]:
    """The artifact and the path of its bytes (404 when the file is gone from the store)."""
    info = await store.get(task_id, artifact_id)
    path = store.path(info)
    if not await asyncio.to_thread(path.is_file):
        raise NotFound(
            f"the file of artifact {artifact_id!r} is missing from the artifact store",
            details={"task_id": task_id, "artifact_id": artifact_id},
        )
    return info, path


async def upload(
    request: Request,
    store: ArtifactStore,
    reads: async_sessionmaker[AsyncSession],
    settings: Settings,
    task_id: str,
) -> ArtifactOut:
    """Store the request's multipart `file` (optionally renamed by `name`) as an artifact."""
    limit = settings.artifact_max_upload_mb * MiB
    form = await _read_form(request, limit)
    try:
        part, name = _fields(form)
        if part.size is not None and part.size > limit:
            raise _too_large(limit)
        media_type = _media_type(part, name, settings.artifact_upload_types)
        info = await _store(store, settings.artifact_root, task_id, part, name, media_type)
    finally:
        await form.close()
    async with reads() as session:
        row = await session.get(Artifact, info.id)
    return artifact_out(info, settings, row.created_at if row else None)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the upload exceeds the limit of {limit} bytes", details={"limit_bytes": limit}
    )


def _invalid(field: str, message: str, **extra: Any) -> InvalidInput:
    return InvalidInput(
        f"invalid upload: {message}",
        details=[{"field": f"body.{field}", "message": message, **extra}],
    )


async def _read_form(request: Request, limit: int) -> FormData:
    """Parse the multipart body, counting bytes as they arrive (413 past the limit)."""
    ceiling = limit + MULTIPART_OVERHEAD
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > ceiling:
        raise _too_large(limit)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise _invalid("file", "send multipart/form-data with a `file` part")
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > ceiling:
                raise _too_large(limit)
        return message

    return await Request(request.scope, counted).form(max_files=1, max_fields=4)


def _fields(form: FormData) -> tuple[UploadFile, str]:
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise _invalid("file", "a `file` part (with a filename) is required")
    name = form.get("name")
    if isinstance(name, str) and name.strip():
        return upload, _check_name(name.strip(), "name")
    return upload, _check_name((upload.filename or "").strip(), "file")


def _check_name(name: str, field: str) -> str:
    if not name:
        raise _invalid(field, "the file needs a name")
    if "/" in name or "\\" in name or name in (".", ".."):
        raise _invalid(field, f"file name {name!r} must not contain path separators")
    if len(name) > MAX_NAME_CHARS or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise _invalid(field, f"file name must be 1-{MAX_NAME_CHARS} printable characters")
    return name


def _media_type(upload: UploadFile, name: str, allowed: list[str]) -> str:
    declared, accepted = accepted_type(upload.content_type, name, allowed)
    if accepted:
        return declared
    raise _invalid("file", f"media type {declared!r} is not accepted for uploads", allowed=allowed)


async def _store(
    store: ArtifactStore,
    root: Path,
    task_id: str,
    upload: UploadFile,
    name: str,
    media_type: str,
) -> ArtifactInfo:
    # The store copies from a path; the spooled upload is staged next to the artifacts.
    def stage() -> IO[bytes]:
        root.mkdir(parents=True, exist_ok=True)
        staged = tempfile.NamedTemporaryFile(dir=root, prefix=".upload-")  # noqa: SIM115
        upload.file.seek(0)
        shutil.copyfileobj(upload.file, staged, MiB)
        staged.flush()
        return staged

    staged = await asyncio.to_thread(stage)
    try:
        return await store.put(task_id, name, Path(staged.name), media_type)
    finally:
        await asyncio.to_thread(staged.close)
