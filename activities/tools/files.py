"""Workspace file tools: write, append, read, list, delete and patch, inside the task workspace.

Every path goes through `activities.tools.confine` (no-follow opening relative to checked
directory descriptors, atomic replace, quota); patch text handling is in
`activities.tools.diffpatch`. This module holds the tool handlers and their specs.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from activities.tools.base import (
    Handler,
    Placement,
    Risk,
    ToolContext,
    ToolError,
    ToolOutput,
    ToolSpec,
)
from activities.tools.confine import (
    DIR_FLAGS,
    Limits,
    MiB,
    check_inside,
    check_quota,
    check_writable,
    chown,
    is_link,
    locate,
    open_file,
    parent_dir,
    replace_file,
    symlink_error,
)
from activities.tools.diffpatch import apply_diff, apply_edits

# Limits, locate and parent_dir are re-exported: the tests use them here.
__all__ = ["TOOLS", "Limits", "ToolError", "locate", "parent_dir"]

MAX_WRITE_BYTES = MiB  # per write/append call
MAX_FILE_BYTES = 10 * MiB  # a file after append or patch
MAX_LIST_ENTRIES = 500
NOT_LISTED = frozenset({".venv", ".cape", ".git"})


def _utf8(text: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError:  # lone surrogates from JSON escapes
        raise ToolError("the text is not valid Unicode (lone surrogate characters)") from None


def _encoded(args: dict[str, Any]) -> bytes:
    data = _utf8(str(args["content"]))
    if len(data) > MAX_WRITE_BYTES:
        raise ToolError(f"content is {len(data)} bytes; at most {MAX_WRITE_BYTES} per call")
    return data


def write_file(workspace: Path, limits: Limits, args: dict[str, Any]) -> str:
    """Create or overwrite `path` with `content`."""
    data = _encoded(args)
    target = locate(workspace, args["path"])
    check_writable(target)
    with parent_dir(target, limits) as dir_fd:
        replace_file(dir_fd, target, data, limits)
    return f"wrote {len(data)} bytes to {target.shown}"


def append_file(workspace: Path, limits: Limits, args: dict[str, Any]) -> str:
    """Append `content` to `path`, creating it if missing."""
    data = _encoded(args)
    target = locate(workspace, args["path"])
    check_writable(target)
    check_quota(limits, target, len(data))  # before the open, which may create the file
    with parent_dir(target, limits) as dir_fd:
        fd = open_file(dir_fd, target, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            info = os.fstat(fd)
            if info.st_nlink > 1:  # appending would change the other names' file too
                raise ToolError(f"{target.shown!r} has other hard links; rewrite it instead")
            size = info.st_size + len(data)
            if size > MAX_FILE_BYTES:
                raise ToolError(f"{target.shown!r} would be {size} bytes; at most {MAX_FILE_BYTES}")
            with os.fdopen(fd, "ab", closefd=False) as out:
                out.write(data)
            chown(limits, fd)
        finally:
            os.close(fd)
    return f"appended {len(data)} bytes to {target.shown} (now {size} bytes)"


def delete_file(workspace: Path, limits: Limits, args: dict[str, Any]) -> str:
    """Delete a file, a symbolic link (not its target) or an empty directory."""
    target = locate(workspace, args["path"])
    if not target.name:
        raise ToolError("refusing to delete the workspace root")
    check_writable(target)
    with parent_dir(target) as dir_fd:
        try:
            info = os.stat(target.name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            raise ToolError(f"no file or directory {target.shown!r} in the workspace") from None
        if not stat.S_ISDIR(info.st_mode):
            os.unlink(target.name, dir_fd=dir_fd)
            return f"deleted {target.shown}"
        try:
            os.rmdir(target.name, dir_fd=dir_fd)
        except OSError:
            raise ToolError(
                f"directory {target.shown!r} is not empty; delete its files first"
            ) from None
    return f"deleted directory {target.shown}"


def patch_file(workspace: Path, limits: Limits, args: dict[str, Any]) -> str:
    """Apply exact-string `edits` or a unified `diff` to an existing text file."""
    edits, diff = args.get("edits"), args.get("diff")
    if (edits is None) == (diff is None):
        raise ToolError("give exactly one of `edits` (a list of {old, new}) or `diff`")
    target = locate(workspace, args["path"])
    check_writable(target)
    with parent_dir(target) as dir_fd:
        fd = open_file(dir_fd, target, os.O_RDONLY)
        with os.fdopen(fd, "rb") as source:
            raw = source.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise ToolError(f"{target.shown!r} is over {MAX_FILE_BYTES} bytes; too big to patch")
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            raise ToolError(f"{target.shown!r} is not UTF-8 text") from None
        if edits is not None:
            new, summary = apply_edits(text, edits)
        else:
            new, summary = apply_diff(text, str(diff))
        data = _utf8(new)
        if len(data) > MAX_FILE_BYTES:
            raise ToolError(
                f"the patched file would be {len(data)} bytes; at most {MAX_FILE_BYTES}"
            )
        replace_file(dir_fd, target, data, limits)
    return f"patched {target.shown}: {summary}"


Op = Callable[[Path, Limits, dict[str, Any]], str]


def _handler(op: Op) -> Handler:
    async def handle(ctx: ToolContext, args: dict[str, Any]) -> ToolOutput:
        limits = Limits.of(ctx.settings)
        try:
            content = await asyncio.to_thread(op, ctx.workspace, limits, args)
        except OSError as exc:  # strerror only: the message must not show host paths
            raise ToolError(f"{args.get('path')!r}: {exc.strerror or type(exc).__name__}") from None
        return ToolOutput(content)

    return handle


# --- reading and listing -----------------------------------------------------------------------


def read_file(workspace: Path, limits: Limits, args: dict[str, Any]) -> str:
    """Return lines of `path` from `offset` (1-based), at most `limit` lines and the char budget."""
    target = locate(workspace, args["path"])
    if not target.name:
        raise ToolError("the path is the workspace root, a directory; use list_files")
    offset, limit = int(args.get("offset") or 1), args.get("limit")
    budget = limits.output_chars
    with parent_dir(target) as dir_fd:
        fd = open_file(dir_fd, target, os.O_RDONLY)
    with os.fdopen(fd, "rb") as raw:
        if b"\0" in raw.read(8192):
            size = os.fstat(raw.fileno()).st_size
            raise ToolError(f"{target.shown!r} looks binary ({size} bytes); file tools read text")
        raw.seek(0)
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
        shown: list[str] = []
        used, line_no, last, more, note = 0, 0, offset - 1, False, ""
        for line in text:
            line_no += 1
            if line_no < offset or more:
                continue  # past the window the lines are only counted
            if limit is not None and line_no >= offset + int(limit):
                more = True
            elif used + len(line) > budget:
                more = True
                if not shown:  # one huge line: show its start rather than nothing
                    shown.append(line[:budget])
                    last = line_no
                    note = f"line {line_no} is longer than {budget} characters; "
            else:
                shown.append(line)
                used += len(line)
                last = line_no
    if line_no == 0:
        return "(empty file)"
    if offset > line_no:
        raise ToolError(f"offset {offset} is past the end: {target.shown!r} has {line_no} lines")
    body = "".join(shown)
    if not more:
        return body
    gap = "" if body.endswith("\n") else "\n"
    return (
        f"{body}{gap}[... truncated: {note}showed lines {offset}-{last} of {line_no}; "
        f"read on with offset={last + 1}]"
    )


def list_files(workspace: Path, limits: Limits, args: dict[str, Any]) -> str:
    """List `path` recursively: `dir/`, `file<TAB>size`, `link -> target` (links not followed)."""
    target = locate(workspace, args.get("path") or ".")
    with parent_dir(target) as dir_fd:
        if not target.name:
            fd = os.dup(dir_fd)
        else:
            try:
                fd = os.open(target.name, DIR_FLAGS, dir_fd=dir_fd)
            except FileNotFoundError:
                raise ToolError(f"no directory {target.shown!r} in the workspace") from None
            except OSError:
                if is_link(dir_fd, target.name):
                    raise symlink_error(dir_fd, target) from None
                raise ToolError(f"{target.shown!r} is not a directory; use read_file") from None
    try:
        check_inside(fd, target)
        lines, total, skipped = _walk(fd, "" if target.shown == "." else target.shown + "/")
    finally:
        os.close(fd)
    out: list[str] = []
    used = 0
    for line in lines:
        if len(out) >= MAX_LIST_ENTRIES or used + len(line) > limits.output_chars:
            break
        out.append(line)
        used += len(line) + 1
    shown = len(out)
    out.sort()  # the walk's order keeps shallow entries when cut; sorting reads like a tree
    if shown < total:
        out.append(f"[... {total - shown} more entries; list a subdirectory]")
    if skipped:
        out.append(f"(not listed: {', '.join(sorted(skipped))})")
    return "\n".join(out) or "(empty directory)"


def _walk(fd: int, prefix: str) -> tuple[list[str], int, set[str]]:
    lines: list[str] = []
    total = 0
    skipped: set[str] = set()
    for path, dirs, files, dfd in os.fwalk(".", dir_fd=fd, follow_symlinks=False):
        base = prefix + ("" if path == "." else path.removeprefix("./") + "/")
        for name in [d for d in dirs if d in NOT_LISTED]:
            dirs.remove(name)
            skipped.add(base + name + "/")
        dirs.sort()
        names = sorted(dirs + files)
        total += len(names)
        if len(lines) > MAX_LIST_ENTRIES:
            continue  # only counting now
        for name in names:
            with contextlib.suppress(OSError):
                info = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                if stat.S_ISLNK(info.st_mode):
                    lines.append(f"{base}{name} -> {os.readlink(name, dir_fd=dfd)}")
                elif stat.S_ISDIR(info.st_mode):
                    lines.append(f"{base}{name}/")
                else:
                    lines.append(f"{base}{name}\t{info.st_size}")
    return lines, total, skipped


# --- specs -------------------------------------------------------------------------------------

_PATH = {"type": "string", "minLength": 1, "description": "Path relative to the workspace."}
_CONTENT = {"type": "string", "description": "UTF-8 text, at most 1 MiB per call."}


def _schema(required: list[str], **properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


_EDIT = _schema(
    ["old", "new"],
    old={"type": "string", "minLength": 1, "description": "Exact text to replace (unique)."},
    new={"type": "string", "description": "Replacement text."},
)
_TABLE: list[tuple[str, str, dict[str, Any], Risk, Op]] = [
    (
        "write_file",
        "Create or overwrite a text file in the workspace (parent directories are created).",
        _schema(["path", "content"], path=_PATH, content=_CONTENT),
        Risk.WRITE,
        write_file,
    ),
    (
        "read_file",
        "Read a text file from the workspace. Long files are truncated with a marker that "
        "says which `offset` to read on from.",
        _schema(
            ["path"],
            path=_PATH,
            offset={"type": "integer", "minimum": 1, "description": "First line, 1-based."},
            limit={"type": "integer", "minimum": 1, "description": "Maximum number of lines."},
        ),
        Risk.READ,
        read_file,
    ),
    (
        "list_files",
        "List a workspace directory recursively: `dir/`, `file<TAB>size`, `link -> target`.",
        _schema([], path={**_PATH, "description": "Directory relative to the workspace."}),
        Risk.READ,
        list_files,
    ),
    (
        "append_file",
        "Append text to a file in the workspace, creating it if missing.",
        _schema(["path", "content"], path=_PATH, content=_CONTENT),
        Risk.WRITE,
        append_file,
    ),
    (
        "delete_file",
        "Delete a file, a symbolic link or an empty directory in the workspace.",
        _schema(["path"], path=_PATH),
        Risk.WRITE,
        delete_file,
    ),
    (
        "patch_file",
        "Change an existing text file with either `edits` (exact-string replacements, each "
        "`old` must occur exactly once) or `diff` (a unified diff of this one file; context "
        "and '-' lines must match exactly, @@ line numbers are hints). Give one of the two.",
        _schema(
            ["path"],
            path=_PATH,
            edits={
                "type": "array",
                "minItems": 1,
                "items": _EDIT,
                "description": "Replacements applied in order.",
            },
            diff={"type": "string", "minLength": 1, "description": "A unified diff (@@ hunks)."},
        ),
        Risk.WRITE,
        patch_file,
    ),
]

TOOLS: list[ToolSpec] = [
    ToolSpec(name, description, parameters, risk, Placement.WORKSPACE, _handler(op))
    for name, description, parameters, risk, op in _TABLE
]
