"""Reading `POST /v1/tasks`: JSON, or multipart with the task as JSON in `task` and `file` parts.

The route reads its own body: JSON under the global body limit (the middleware still bounds
it), multipart under the task files' total limit (`api.middleware.body_limit` lets it through),
counted while it streams in. Uploaded parts are staged next to the artifacts, hashed, and
checked against the upload policy before the task exists.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.types import Message

from api.tasks.assign import check_target
from api.tasks.schemas import TaskCreate
from cape.artifacts import accepted_type
from cape.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from cape.safe_text import check_text
from cape.settings import Settings
from cape.task_files import InputFile, check_path, invalid

MiB = 1024 * 1024
JSON = "application/json"
MULTIPART = "multipart/form-data"
PART_OVERHEAD = 16 * 1024  # boundaries and headers around each part


@dataclass
class TaskRequest:
    """A read `POST /v1/tasks`: the task and its uploaded files (staged until `close`)."""

    body: TaskCreate
    uploads: list[InputFile] = field(default_factory=list)
    staged: list[IO[bytes]] = field(default_factory=list)

    async def close(self) -> None:
        """Remove the staged copies (the store has its own by now)."""
        for handle in self.staged:
            await asyncio.to_thread(handle.close)


async def read_task_request(request: Request, settings: Settings) -> TaskRequest:
    """The task (and files) a create request sends; 415 for another format."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == MULTIPART:
        return await _multipart(request, settings)
    is_json = media == JSON or (media.startswith("application/") and media.endswith("+json"))
    if not is_json:
        raise UnsupportedMediaType(
            f"send the body as JSON with Content-Type: {JSON} (or {MULTIPART} with a `task` "
            f"field and `file` parts), not {media or 'no Content-Type'}",
            details={"accepted": [JSON, MULTIPART]},
        )
    return TaskRequest(_task(await request.body(), ("body",)))


def _task(raw: bytes | str, loc: tuple[str, ...]) -> TaskCreate:
    """Parse and validate the task's JSON; problems are reported at `loc` like FastAPI's."""
    if not raw:
        raise RequestValidationError([{"type": "missing", "loc": loc, "msg": "Field required"}])
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        if len(loc) > 1:  # a form field: name it (a whole body is the handler's to report)
            message = f"the `task` field is not valid JSON: {exc.msg} at character {exc.pos}"
            problems = [{"field": ".".join(loc), "message": message}]
            raise BadRequest(message, details=problems) from None
        problem = {"type": "json_invalid", "loc": (*loc, exc.pos), "msg": "JSON decode error"}
        raise RequestValidationError([{**problem, "ctx": {"error": exc.msg}}]) from None
    except ValueError:  # not UTF-8
        raise BadRequest(
            "the body is not valid JSON: not UTF-8", details=[{"field": ".".join(loc)}]
        ) from None
    check_text(data, ".".join(loc))
    try:
        body = TaskCreate.model_validate(data)
    except ValidationError as exc:
        errors = [{**e, "loc": (*loc, *e["loc"])} for e in exc.errors()]
        raise RequestValidationError(errors) from None
    check_target(body, ".".join(loc))  # named where it stands (a multipart's `task` field)
    return body


async def _multipart(request: Request, settings: Settings) -> TaskRequest:
    count = settings.task_files_max_count
    total = settings.task_files_max_mb * MiB
    ceiling = total + (count + 1) * PART_OVERHEAD + settings.max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > ceiling:
        raise _too_large(ceiling)
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > ceiling:
                raise _too_large(ceiling)
        return message

    try:
        form = await Request(request.scope, counted).form(max_files=count, max_fields=2)
    except HTTPException as exc:  # the multipart parser's own refusals (too many parts)
        where = "body.file" if "files" in str(exc.detail) else "body"
        raise invalid(where, f"{exc.detail} (files: at most {count})", limit=count) from None
    try:
        return await _parts(form, settings)
    finally:
        await form.close()


async def _parts(form: FormData, settings: Settings) -> TaskRequest:
    unknown = sorted({key for key in form if key not in ("task", "file")})
    if unknown:
        raise invalid(f"body.{unknown[0]}", "multipart fields are `task` (JSON) and `file`")
    task = form.get("task")
    if not isinstance(task, str):
        raise invalid("body.task", "a `task` field holding the task as JSON is required")
    body = _task(task, ("body", "task"))
    request = TaskRequest(body)
    try:
        for index, part in enumerate(form.getlist("file")):
            where = f"body.file.{index}"
            if not isinstance(part, UploadFile):
                raise invalid(where, "a `file` part must be a file (with a filename)")
            request.uploads.append(await _stage(part, where, settings, request.staged))
    except BaseException:
        await request.close()
        raise
    return request


async def _stage(
    part: UploadFile, where: str, settings: Settings, staged: list[IO[bytes]]
) -> InputFile:
    path = check_path((part.filename or "").strip(), where)
    limit = settings.artifact_max_upload_mb * MiB
    if part.size is not None and part.size > limit:
        raise invalid(where, f"{path!r} is over {limit} bytes", limit_bytes=limit)
    media, ok = accepted_type(part.content_type, path, settings.artifact_upload_types)
    if not ok:
        raise invalid(
            where, f"media type {media!r} is not accepted", allowed=settings.artifact_upload_types
        )

    def copy() -> tuple[IO[bytes], int, str]:
        settings.artifact_root.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(dir=settings.artifact_root, prefix=".input-")  # noqa: SIM115
        digest, size = hashlib.sha256(), 0
        part.file.seek(0)
        while chunk := part.file.read(MiB):
            handle.write(chunk)
            digest.update(chunk)
            size += len(chunk)
        handle.flush()
        return handle, size, digest.hexdigest()

    handle, size, sha = await asyncio.to_thread(copy)
    staged.append(handle)
    return InputFile(path, Path(handle.name), media, size, sha, where)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the request exceeds the limit of {limit} bytes (CAPE_TASK_FILES_MAX_MB)",
        details={"limit_bytes": limit},
    )


def form_schema() -> dict[str, Any]:
    """The OpenAPI request body of the create route: JSON, or multipart with files."""
    task = _inline(TaskCreate.model_json_schema())
    return {
        "required": True,
        "content": {
            JSON: {"schema": task},
            MULTIPART: {
                "schema": {
                    "type": "object",
                    "required": ["task"],
                    "properties": {
                        "task": {"type": "string", "description": "The task as JSON."},
                        "file": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "Files for input/ (the part's filename is the path).",
                        },
                    },
                }
            },
        },
    }


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with its `$defs` references replaced by the definitions themselves."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    result: dict[str, Any] = walk(schema)
    return result
