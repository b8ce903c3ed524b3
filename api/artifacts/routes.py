"""Artifact routes: list a task's artifacts, download one, upload a file to a task.

Uploads are stored as artifacts only; they are not copied into the (running) task's workspace.
Files reach a workspace when a task is created with them (`api.tasks.body`, `api.tasks.files`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import FileResponse

from api.artifacts.schemas import UPLOAD_BODY, ArtifactOut
from api.artifacts.uploads import artifact_file, list_artifacts, upload
from api.deps import (
    ArtifactStoreDep,
    OwnedTaskDep,
    ReadSessionsDep,
    SessionDep,
    SettingsDep,
    WriterDep,
)

router = APIRouter(prefix="/tasks/{task_id}/artifacts", tags=["artifacts"])


@router.get("", response_model=list[ArtifactOut])
async def list_task_artifacts(
    task: OwnedTaskDep, session: SessionDep, settings: SettingsDep
) -> list[ArtifactOut]:
    """The task's artifacts, oldest first, each with its download URL."""
    return await list_artifacts(session, settings, task.id)


@router.get(
    "/{artifact_id}",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The bytes."}},
)
async def download_artifact(
    task: OwnedTaskDep, artifact_id: str, store: ArtifactStoreDep
) -> FileResponse:
    """The artifact's bytes, with its media type and file name (as an attachment)."""
    info, path = await artifact_file(store, task.id, artifact_id)
    # attachment + nosniff: an uploaded text/html must not render on the API's origin.
    return FileResponse(
        path,
        media_type=info.media_type,
        filename=info.name,
        content_disposition_type="attachment",
        headers={"X-Content-Type-Options": "nosniff"},
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ArtifactOut,
    openapi_extra={"requestBody": UPLOAD_BODY},
)
async def upload_artifact(
    _caller: WriterDep,
    task: OwnedTaskDep,
    request: Request,
    response: Response,
    store: ArtifactStoreDep,
    reads: ReadSessionsDep,
    settings: SettingsDep,
) -> ArtifactOut:
    """Upload a file to the task as an artifact (multipart: `file`, optional `name`).

    The media type must match `artifact_upload_types` (422 names `body.file` and lists the
    allowed types); a file over `artifact_max_upload_mb` is a 413.
    """
    out = await upload(request, store, reads, settings, task.id)
    response.headers["Location"] = f"/v1/tasks/{task.id}/artifacts/{out.id}"
    return out
