"""The arguments of the `delegate` and `await_task` tools, read from the model's JSON.

A mistake names the argument, so the model can correct its call (it reads the tool's error).
`capability` (with an optional `complexity`) instead of `agent` is resolved by the assigner when
the child's row is created (`cape/tasks/delegation.py`, docs/multi-agent.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MAX_TIMEOUT_SECONDS = 86_400.0


class BadArguments(ValueError):
    """The call's arguments are wrong; the message names the argument."""


@dataclass(frozen=True)
class DelegateArgs:
    """What a `delegate` call asks for."""

    agent: str | None
    capability: str | None
    input: dict[str, Any]
    wait: bool = True
    max_tokens: int | None = None
    max_cost: float | None = None
    share_workspace: bool = False
    complexity: int | None = None  # with `capability`: 1-10


def parse_delegate(text: str) -> DelegateArgs:
    """The `delegate` call's arguments; BadArguments names a wrong one."""
    raw = _object(text)
    agent, capability = raw.get("agent"), raw.get("capability")
    if (agent is None) == (capability is None):
        raise BadArguments("give exactly one of `agent` or `capability`")
    for name, value in (("agent", agent), ("capability", capability)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise BadArguments(f"`{name}` must be a non-empty string")
    complexity = _number(raw, "complexity", int)
    if complexity is not None and (capability is None or not 1 <= complexity <= 10):
        raise BadArguments("`complexity` goes with `capability` and is a whole number from 1 to 10")
    given = raw.get("input")
    if isinstance(given, str):
        given = {"prompt": given}  # a plain prompt, the input most agents take
    if not isinstance(given, dict):
        raise BadArguments("`input` must be an object (the agent's input) or a prompt string")
    return DelegateArgs(
        agent=agent,
        capability=capability,
        input=given,
        wait=_flag(raw, "wait", True),
        max_tokens=_number(raw, "max_tokens", int),
        max_cost=_number(raw, "max_cost", float),
        share_workspace=_flag(raw, "share_workspace", False),
        complexity=complexity,
    )


def parse_await(text: str) -> tuple[str, float]:
    """`await_task`'s task id and timeout (seconds, 0: return at once if it still runs)."""
    raw = _object(text)
    task_id = raw.get("task_id")
    if not isinstance(task_id, str) or not task_id:
        raise BadArguments("`task_id` must be the id `delegate` returned")
    timeout = _number(raw, "timeout_seconds", float)
    return task_id, min(MAX_TIMEOUT_SECONDS, 3600.0 if timeout is None else float(timeout))


def _object(text: str) -> dict[str, Any]:
    try:
        raw = json.loads(text or "{}")
    except ValueError as exc:
        raise BadArguments(f"arguments are not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise BadArguments("arguments must be a JSON object")
    return raw


def _flag(raw: dict[str, Any], name: str, default: bool) -> bool:
    value = raw.get(name, default)
    if not isinstance(value, bool):
        raise BadArguments(f"`{name}` must be true or false")
    return value


def _number(raw: dict[str, Any], name: str, kind: type[int] | type[float]) -> Any:
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise BadArguments(f"`{name}` must be a number of at least 0")
    if kind is int and value != int(value):
        raise BadArguments(f"`{name}` must be a whole number")
    return kind(value)
