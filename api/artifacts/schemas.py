"""Response models of the artifact routes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class ArtifactOut(BaseModel):
    """A file a task produced or received."""

    id: str
    task_id: str
    name: str = Field(description="File name (no directories), used for downloads.")
    media_type: str
    size: int = Field(description="Size in bytes.")
    sha256: str = Field(description="Hex SHA-256 of the bytes.")
    step_no: int | None = Field(description="The step that stored it; null for uploads.")
    created_at: datetime | None
    download_url: str


UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "name": {"type": "string", "description": "File name; default: the part's."},
                },
            }
        }
    },
}
