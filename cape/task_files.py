"""A task's input files: where they go in the workspace and the rules their paths follow.

A task started with files (`POST /v1/tasks`, multipart or artifact ids) owns a copy of each as
an artifact whose id starts with `INPUT_PREFIX` and whose name is its path under the
workspace's `input/` folder. The copies are written before the task's workflow starts, in the
transaction of the task's row, so the workflow input carries no file at all: the workspace
setup finds them by task id, and so do a restart by the reconciler, a retry, a rerun and a fork.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cape.artifacts import INPUT_PREFIX
from cape.db.models import Artifact
from cape.errors import InvalidInput

INPUT_DIR = "input"  # the workspace folder that holds them
MAX_PATH_CHARS = 255
MAX_DEPTH = 8


@dataclass(frozen=True)
class InputFile:
    """One file to give a task: its path under `input/` and where its bytes are now."""

    path: str
    source: Path
    media_type: str
    size: int
    sha256: str
    field: str  # the request field it came from, for errors


def new_input_id() -> str:
    """A fresh artifact id for an input file."""
    return INPUT_PREFIX + uuid.uuid4().hex


def invalid(field: str, message: str, **extra: object) -> InvalidInput:
    """The 422 of a bad file, naming its request field."""
    return InvalidInput(
        f"invalid file: {field}: {message}",
        details=[{"field": field, "message": message, **extra}],
    )


def check_path(path: str, field: str) -> str:
    """`path` as a relative POSIX path under `input/`, or a 422 naming `field`.

    No absolute path, no `..` or `.` component, no backslash, no empty component, no control
    character; at most `MAX_DEPTH` folders deep and `MAX_PATH_CHARS` long.
    """
    if not path:
        raise invalid(field, "the file needs a name")
    if len(path) > MAX_PATH_CHARS or any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise invalid(field, f"the path must be 1-{MAX_PATH_CHARS} printable characters")
    if "\\" in path:
        raise invalid(field, f"path {path!r} must use `/` between folders, not `\\`")
    if path.startswith("/"):
        raise invalid(field, f"path {path!r} must be relative (it goes under input/)")
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise invalid(field, f"path {path!r} must not contain `..`, `.` or empty parts")
    if len(parts) > MAX_DEPTH:
        raise invalid(field, f"path {path!r} is more than {MAX_DEPTH} folders deep")
    return str(PurePosixPath(path))


def check_set(files: list[InputFile], max_count: int, max_bytes: int, max_file: int) -> None:
    """The limits on all of a task's files together: count, total size, distinct paths."""
    if len(files) > max_count:
        raise invalid(
            files[max_count].field, f"a task takes at most {max_count} files", limit=max_count
        )
    seen: dict[str, str] = {}
    total = 0
    for file in files:
        if file.size > max_file:
            raise invalid(
                file.field, f"{file.path!r} is over {max_file} bytes", limit_bytes=max_file
            )
        total += file.size
        if total > max_bytes:
            raise invalid(
                file.field, f"the files are over {max_bytes} bytes together", limit_bytes=max_bytes
            )
        # `a` and `a/b` cannot both be files; neither can two files of one path.
        for other, where in seen.items():
            if (
                other == file.path
                or other.startswith(file.path + "/")
                or (file.path.startswith(other + "/"))
            ):
                raise invalid(file.field, f"path {file.path!r} clashes with {other!r} ({where})")
        seen[file.path] = file.field


def input_row(
    task_id: str, team_id: str, artifact_id: str, file: InputFile, size: int, sha: str, uri: str
) -> Artifact:
    """The artifact row of an input file whose bytes are in the store."""
    return Artifact(
        id=artifact_id, task_id=task_id, team_id=team_id, step_no=None, name=file.path,
        media_type=file.media_type, size=size, sha256=sha, uri=uri,
    )  # fmt: skip


def fingerprint(files: list[InputFile] | list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Paths and hashes, sorted: what makes two requests' files the same."""
    pairs = [(f.path, f.sha256) if isinstance(f, InputFile) else f for f in files]
    return sorted(pairs)
