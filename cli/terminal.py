r"""What the CLI prints from a task reaches the terminal without control sequences.

Tool output, answers and errors are written by programs and models the agent controls, and a
terminal obeys escape sequences: `\x1b]0;...\x07` retitles the window, `\x1b[2J` clears the
screen, OSC 52 writes the clipboard, `\r` and backspaces hide what was printed. `safe` removes
whole ESC/CSI/OSC/DCS sequences (7-bit and 8-bit forms) and shows any other control character
as a visible `\xNN`; newline and tab stay, a carriage return becomes a newline. Every command
that prints task data goes through `echo` (or `json_text` for JSON, whose own escaping already
covers the 7-bit controls).
"""

from __future__ import annotations

import json
import re
from typing import Any

import click

_SEQUENCES = re.compile(
    r"""
    (?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?      # OSC ... BEL or ST (or cut off)
    | (?:\x1b[PX^_]|[\x90\x98\x9e\x9f])[^\x1b\x9c]*(?:\x1b\\|\x9c)?  # DCS, SOS, PM, APC
    | (?:\x1b\[|\x9b)[0-?]*[\x20-/]*[@-~]?                    # CSI: parameters, final byte
    | \x1b[\x20-/]*[0-~]?                                     # any other ESC sequence
    """,
    re.VERBOSE,
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_C1 = re.compile(r"[\x7f-\x9f]")


def safe(text: str) -> str:
    """`text` with terminal control sequences removed and other control characters visible."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _SEQUENCES.sub("", text)
    return _CONTROLS.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def echo(message: Any = "", *, nl: bool = True, err: bool = False) -> None:
    """`click.echo` of `message` made `safe`."""
    click.echo(safe(str(message)), nl=nl, err=err)


def json_text(value: Any, *, compact: bool = False) -> str:
    """JSON of `value` for a terminal: also the 8-bit controls JSON leaves raw are escaped.

    Indented, or on one line without spaces when `compact` (JSONL).
    """
    layout: dict[str, Any] = {"separators": (",", ":")} if compact else {"indent": 2}
    text = json.dumps(value, ensure_ascii=False, **layout)
    return _C1.sub(lambda match: f"\\u{ord(match.group()):04x}", text)
