"""What a task shows of its worker's host: workspace paths as `/workspace`, no host names.

Tools run on the host, so their messages (git's "Cloning into '/var/lib/…'", a traceback of
the degraded sandbox, `pwd`) name host paths; clients and the model must only ever see paths
inside the task, as the bubblewrap sandbox shows them. `HostView` rewrites text and JSON-like
data before it is stored in a step, an event or an artifact.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from cape.settings import Settings

WORKSPACE = "/workspace"
HOST = "<host>"
T = TypeVar("T")


def _variants(path: Path) -> set[str]:
    """The path absolute as given and resolved (symlinked temp dirs differ).

    A relative form (the default data dir `.cape`) is left alone: it also names directories
    inside the task (`/workspace/.cape/run-3.py`).
    """
    found = {str(path.resolve())}
    if path.is_absolute():
        found.add(str(path))
    return {p.rstrip("/") for p in found} - {""}


class HostView:
    """Rewrites host paths and the host's name in what a task's steps and events show."""

    def __init__(self, settings: Settings, workspace: Path | None = None) -> None:
        names: dict[str, str] = {}
        # Other host directories keep a placeholder so a message still reads sensibly.
        for path, shown in (
            (settings.data_dir, "<data dir>"),
            (settings.artifact_root, "<artifacts>"),
            (settings.workspace_root, "<workspaces>"),
            *([(workspace, WORKSPACE)] if workspace is not None else []),
        ):
            names.update(dict.fromkeys(_variants(path), shown))
        # Longest first, and only whole path components: "/w/task_1" must not eat "/w/task_10".
        paths = sorted(names, key=len, reverse=True)
        self._paths = names
        alternatives = "|".join(re.escape(p) for p in paths)
        self._path_re = re.compile(
            rf"(?<![\w.-])(?:{alternatives})(?![\w.-])" if paths else r"(?!)"
        )
        self._hosts = {socket.gethostname(), settings.host_id} - {settings.host_label, ""}
        hosts = "|".join(re.escape(h) for h in sorted(self._hosts, key=len, reverse=True))
        self._host_re = re.compile(rf"(?<![\w.-])(?:{hosts})(?![\w-])" if hosts else r"(?!)")
        self.longest = max([len(p) for p in paths] + [len(h) for h in self._hosts] + [0])

    def text(self, text: str) -> str:
        """`text` with host paths mapped and host names replaced."""
        text = self._path_re.sub(lambda m: self._paths[m.group(0)], text)
        return self._host_re.sub(HOST, text)

    def data(self, value: T) -> T:
        """Every string in a JSON-like value (dicts, lists, tuples) rewritten by `text`."""
        if isinstance(value, str):
            return self.text(value)  # type: ignore[return-value]
        if isinstance(value, dict):
            return {k: self.data(v) for k, v in value.items()}  # type: ignore[return-value]
        if isinstance(value, list | tuple):
            return type(value)(self.data(v) for v in value)
        return value

    def pending(self, text: str) -> int:
        """Where the tail of `text` that may begin a host path or name (not yet whole) starts."""
        start = max(0, len(text) - self.longest)
        for at in range(start, len(text)):
            tail = text[at:]
            if any(p.startswith(tail) for p in [*self._paths, *self._hosts]):
                return at
        return len(text)

    def stream(self, send: Callable[[str], Awaitable[None]]) -> Stream:
        """A writer for output that arrives in pieces (a host path may be cut between two)."""
        return Stream(self, send)


class Stream:
    """Forwards rewritten text, holding back a tail that could still become a host path."""

    def __init__(self, view: HostView, send: Callable[[str], Awaitable[None]]) -> None:
        self.view = view
        self.send = send
        self.held = ""

    async def write(self, text: str) -> None:
        """Rewrite and forward what is certain; keep a possible partial path for later."""
        text = self.held + text
        cut = self.view.pending(text)
        self.held = text[cut:]
        if cut:
            await self.send(self.view.text(text[:cut]))

    async def flush(self) -> None:
        """Forward what is held back (the output ended)."""
        if self.held:
            held, self.held = self.held, ""
            await self.send(self.view.text(held))


def rewrite_file(view: HostView, path: Path, chunk_lines: int = 4096) -> None:
    """Rewrite a text file (a sandboxed run's log) in place through `view`, line by line."""
    tmp = path.with_name(path.name + ".view")
    text = {"encoding": "utf-8", "errors": "surrogateescape", "newline": ""}
    with path.open("r", **text) as src, tmp.open("w", **text) as dst:  # type: ignore[call-overload]
        lines: list[str] = []
        for line in src:
            lines.append(line)
            if len(lines) >= chunk_lines:
                dst.write(view.text("".join(lines)))
                lines = []
        dst.write(view.text("".join(lines)))
    tmp.replace(path)
