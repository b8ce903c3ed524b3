"""Whether a trigger fires on an event: its type pattern and its filter on the event's data."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_MISSING = object()


@lru_cache(maxsize=1024)
def _pattern(trigger: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else re.escape(c) for c in trigger) + r"\Z")


def type_matches(trigger: str, event_type: str) -> bool:
    """`alert.*` matches `alert.disk` and `alert.disk.full`; without `*` the type must equal."""
    if "*" not in trigger:
        return trigger == event_type
    return _pattern(trigger).match(event_type) is not None


def lookup(data: Any, path: str) -> Any:
    """The value at dotted `path` of `data` (list items by index), or `_MISSING`."""
    value = data
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def filter_matches(conditions: dict[str, Any] | None, data: dict[str, Any]) -> bool:
    """Every condition holds: the field equals the value (or one of a list's values).

    A field the event does not have simply does not match (never an error).
    """
    for path, wanted in (conditions or {}).items():
        value = lookup(data, path)
        if value is _MISSING:
            return False
        if isinstance(wanted, list) and not isinstance(value, list):
            if value not in wanted:
                return False
        elif value != wanted:
            return False
    return True
