"""Small text helpers of the task commands: shortening, times, tokens, errors and tables."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import click

from cli.terminal import json_text


def echo_json(value: Any) -> None:
    """Print a value as indented JSON.

    Args:
        value: Anything `json.dumps` accepts.
    """
    click.echo(
        json_text(value)
    )  # JSON escapes every control character: nothing reaches a terminal raw


def one_line(text: str, limit: int) -> str:
    """Collapse whitespace and cut the text to `limit` characters, ending in `...` if cut.

    Args:
        text: The text.
        limit: The most characters to keep.

    Returns:
        The text on one line.
    """
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def when(value: Any) -> str:
    """An ISO timestamp in local time, as `YYYY-MM-DD HH:MM:SS` (or `-`).

    Args:
        value: An ISO 8601 timestamp, or anything else for `-`.

    Returns:
        The local time.
    """
    stamp = _parse_time(value)
    return stamp.astimezone().strftime("%Y-%m-%d %H:%M:%S") if stamp else "-"


def duration(start: Any, end: Any) -> str:
    """The time between two ISO timestamps, in seconds or minutes (or `-`).

    Args:
        start: The first timestamp.
        end: The last timestamp.

    Returns:
        E.g. `4.2s` or `3.5m`.
    """
    first, last = _parse_time(start), _parse_time(end)
    if first is None or last is None:
        return "-"
    seconds = (last - first).total_seconds()
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}m"


def total_tokens(usage: Any) -> int:
    """The total tokens of a usage object (0 when there is none).

    Args:
        usage: A `{"total_tokens": ...}` dict, or anything else.

    Returns:
        The total.
    """
    if isinstance(usage, dict):
        return int(usage.get("total_tokens") or 0)
    return 0


def error_text(error: Any) -> str:
    """An API error object as `type: message`.

    Args:
        error: A `{"type", "message"}` dict, or anything else.

    Returns:
        The error as one string.
    """
    if isinstance(error, dict):
        kind, message = error.get("type"), error.get("message")
        if kind and message:
            return f"{kind}: {message}"
        return str(message or kind or error)
    return str(error)


def table(headers: list[str], rows: Iterable[list[str]]) -> list[str]:
    """Lay out rows in left-aligned columns.

    Args:
        headers: The column titles.
        rows: The cells, one list per row.

    Returns:
        The header line, then one line per row.
    """
    body = [headers, *rows]
    widths = [max(len(row[i]) for row in body) for i in range(len(headers))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in body
    ]
