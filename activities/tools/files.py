"""Workspace file tools: write, read and list, confined to the task's workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

MAX_WRITE_BYTES = 1024 * 1024
MAX_READ_CHARS = 64 * 1024
MAX_LIST_ENTRIES = 500


class ToolError(Exception):
    """A tool failure the model should see and can correct (bad path, missing file, too big)."""


SPECS: dict[str, dict[str, Any]] = {
    "write_file": {
        "description": "Create or overwrite a text file in the workspace.",
        "parameters": {
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "Path relative to the workspace."},
                "content": {"type": "string"},
            },
            "required": ["path", "content"],
        },
    },
    "read_file": {
        "description": "Read a text file from the workspace.",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string"}},
            "required": ["path"],
        },
    },
    "list_files": {
        "description": "List files under a workspace directory (recursively).",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string", "default": "."}},
        },
    },
}


def resolve(workspace: Path, relative: str) -> Path:
    """Resolve `relative` inside `workspace`, refusing absolute paths, `..` and symlink escapes."""
    if not isinstance(relative, str) or not relative.strip():
        raise ToolError("path must be a non-empty string")
    if Path(relative).is_absolute():
        raise ToolError(f"path {relative!r} must be relative to the workspace")
    root = workspace.resolve()
    target = (root / relative).resolve()
    if not target.is_relative_to(root):
        raise ToolError(f"path {relative!r} is outside the workspace")
    return target


def write_file(workspace: Path, args: dict[str, Any]) -> str:
    """Write `content` to `path`, creating parent directories."""
    content = args.get("content")
    if not isinstance(content, str):
        raise ToolError("content must be a string")
    data = content.encode()
    if len(data) > MAX_WRITE_BYTES:
        raise ToolError(f"content is {len(data)} bytes; the limit is {MAX_WRITE_BYTES}")
    target = resolve(workspace, args.get("path", ""))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return f"wrote {len(data)} bytes to {target.relative_to(workspace.resolve())}"


def read_file(workspace: Path, args: dict[str, Any]) -> str:
    """Return the text of `path`, truncated with a marker past the limit."""
    target = resolve(workspace, args.get("path", ""))
    if not target.is_file():
        raise ToolError(f"no file {args.get('path')!r} in the workspace")
    text = target.read_text(errors="replace")
    if len(text) > MAX_READ_CHARS:
        return text[:MAX_READ_CHARS] + f"\n[... truncated, {len(text)} characters in all]"
    return text


def list_files(workspace: Path, args: dict[str, Any]) -> str:
    """List files under `path` with their sizes, one per line."""
    root = workspace.resolve()
    base = resolve(workspace, args.get("path") or ".")
    if not base.is_dir():
        raise ToolError(f"no directory {args.get('path')!r} in the workspace")
    entries = sorted(p for p in base.rglob("*") if p.is_file())
    lines = [f"{p.relative_to(root)}\t{p.stat().st_size}" for p in entries[:MAX_LIST_ENTRIES]]
    if len(entries) > MAX_LIST_ENTRIES:
        lines.append(f"[... {len(entries) - MAX_LIST_ENTRIES} more files]")
    return "\n".join(lines) or "(empty)"


HANDLERS = {"write_file": write_file, "read_file": read_file, "list_files": list_files}
