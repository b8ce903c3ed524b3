"""Script models for the fake LLM: what each turn of a scripted conversation answers.

A script is picked by the request's model (``script:<name>``). The turn is the number of
assistant messages already in the request, so a retried or replayed request gets the same
answer. The registry counts calls per (script, turn) to play scripted faults once each.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field

DEMO_MODEL = "demo"
SCRIPT_PREFIX = "script:"
DEMO_DONE_TEXT = "Done. I wrote answer.md with your request."


class Fault(BaseModel):
    """An HTTP error a turn returns instead of answering, once."""

    status: int
    retry_after: float | None = None
    message: str = "scripted fault"


class ScriptedToolCall(BaseModel):
    """A function call the model asks for."""

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class Turn(BaseModel):
    """One assistant reply: text, tool calls, or both, after optional faults and a delay."""

    content: str | None = None
    tool_calls: list[ScriptedToolCall] = Field(default_factory=list)
    faults: list[Fault] = Field(default_factory=list)
    delay_seconds: float = 0


class Script(BaseModel):
    """A named, ordered list of turns."""

    name: str
    turns: list[Turn]


class ScriptRegistry:
    """Thread-safe store of scripts and of the calls made to each turn."""

    def __init__(self, scripts: Iterable[Script] = ()) -> None:
        self._lock = threading.Lock()
        self._scripts: dict[str, Script] = {}
        self._calls: dict[str, dict[int, int]] = {}
        self._headers: dict[str, dict[str, str]] = {}
        for script in scripts:
            self.add(script)

    def add(self, script: Script) -> None:
        """Register or replace a script; its call counts start again from zero."""
        with self._lock:
            self._scripts[script.name] = script
            self._calls.pop(script.name, None)

    def remove(self, name: str) -> bool:
        """Forget a script and its call counts; False if it was not registered."""
        with self._lock:
            self._calls.pop(name, None)
            return self._scripts.pop(name, None) is not None

    def get(self, name: str) -> Script | None:
        """The script registered under ``name``, if any."""
        with self._lock:
            return self._scripts.get(name)

    def names(self) -> list[str]:
        """Names of the registered scripts, sorted."""
        with self._lock:
            return sorted(self._scripts)

    def record_call(self, name: str, turn: int) -> int:
        """Count one call to ``turn`` of ``name``; returns how many calls came before it."""
        with self._lock:
            by_turn = self._calls.setdefault(name, {})
            previous = by_turn.get(turn, 0)
            by_turn[turn] = previous + 1
            return previous

    def calls(self, name: str) -> dict[int, int]:
        """Calls per turn made so far to ``name`` (empty if none)."""
        with self._lock:
            return dict(self._calls.get(name, {}))

    def note_headers(self, name: str, headers: Mapping[str, str]) -> None:
        """Keep the HTTP headers of the latest request to ``name`` (lower-cased names)."""
        with self._lock:
            self._headers[name] = {k.lower(): v for k, v in headers.items()}

    def headers(self, name: str) -> dict[str, str]:
        """The headers of the latest request to ``name`` (empty if none)."""
        with self._lock:
            return dict(self._headers.get(name, {}))


def load_scripts(path: str | Path) -> list[Script]:
    """Read scripts from a YAML or JSON file.

    The file holds either a list of scripts (``[{name, turns}, ...]``) or a mapping from
    script name to its list of turns.

    Args:
        path: The file to read; ``.json`` files are parsed as JSON, others as YAML.

    Returns:
        The scripts, in file order.

    Raises:
        ValueError: If the document is neither a list nor a mapping.
    """
    file = Path(path)
    text = file.read_text(encoding="utf-8")
    data: Any = json.loads(text) if file.suffix.lower() == ".json" else yaml.safe_load(text)
    if isinstance(data, list):
        return [Script.model_validate(item) for item in data]
    if isinstance(data, Mapping):
        return [Script.model_validate({"name": k, "turns": v}) for k, v in data.items()]
    raise ValueError(f"{file}: expected a list of scripts or a mapping name -> turns")


def turn_index(messages: list[dict[str, Any]]) -> int:
    """The turn a request is at: the number of assistant messages it carries."""
    return sum(1 for message in messages if message.get("role") == "assistant")


def message_text(message: Mapping[str, Any]) -> str:
    """The text of a message whose content is a string or a list of content parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return ""
