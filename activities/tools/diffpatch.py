"""Patching text: exact-string edits and a unified-diff applier (no fuzz, offsets allowed)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from activities.tools.base import ToolError


def _matches(text: str, old: str) -> list[int]:
    found: list[int] = []
    at = text.find(old)
    while at >= 0 and len(found) < 100:  # overlapping matches count: "aa" is twice in "aaa"
        found.append(at)
        at = text.find(old, at + 1)
    return found


def apply_edits(text: str, edits: list[dict[str, str]]) -> tuple[str, str]:
    """Apply each {old, new} in order; each `old` must occur exactly once in the current text."""
    for number, edit in enumerate(edits, 1):
        old, new = edit["old"], edit["new"]
        found = _matches(text, old)
        if len(found) != 1:
            hint = (
                "add surrounding lines to make it unique"
                if found
                else "copy it exactly, including whitespace and indentation (read_file shows it)"
            )
            raise ToolError(
                f"edit {number} of {len(edits)}: `old` matches {len(found)} times, it must match "
                f"exactly once; {hint}. Nothing was changed."
            )
        text = text[: found[0]] + new + text[found[0] + len(old) :]
    return text, f"{len(edits)} edit(s) applied"


@dataclass
class Hunk:
    """One `@@` hunk: old lines (context and removed), new lines (context and added)."""

    header: str
    start: int  # old start line from the header (1-based; 0 for an insert at the top)
    old_count: int
    old: list[str]
    new: list[str]
    old_no_eol: bool = False
    new_no_eol: bool = False
    bare_tail: int = 0  # trailing empty lines without the ' ' prefix (maybe not context)


_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def parse_diff(diff: str) -> list[Hunk]:
    """The hunks of a one-file unified diff; headers before the first `@@` are skipped."""
    lines = diff.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    hunks: list[Hunk] = []
    tag = " "
    for index, line in enumerate(lines):
        match = _HUNK.match(line)
        if match:
            count = 1 if match[2] is None else int(match[2])
            hunks.append(Hunk(line, int(match[1]), count, [], []))
            continue
        if not hunks:
            continue
        hunk = hunks[-1]
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if line.startswith("--- ") and following.startswith("+++ "):
            raise ToolError("the diff changes more than one file; send one patch_file per file")
        if line.startswith("\\"):  # "\ No newline at end of file" for the line before
            hunk.old_no_eol |= tag in " -"
            hunk.new_no_eol |= tag in " +"
            continue
        tag, body = (line[0], line[1:]) if line else (" ", "")
        if tag not in " -+":
            raise ToolError(
                f"diff line {index + 1} is not part of a hunk: {line[:80]!r} "
                "(hunk lines start with ' ', '-' or '+')"
            )
        hunk.bare_tail = hunk.bare_tail + 1 if line == "" else 0
        if tag in " -":
            hunk.old.append(body)
        if tag in " +":
            hunk.new.append(body)
    if not hunks:
        raise ToolError("the diff has no hunks (lines like '@@ -3,4 +3,5 @@')")
    for hunk in hunks:
        # Blank lines after a hunk are often separators, not context: drop the surplus.
        while hunk.bare_tail and len(hunk.old) > hunk.old_count:
            hunk.old.pop()
            hunk.new.pop()
            hunk.bare_tail -= 1
    return hunks


def _locate_hunk(lines: list[str], hunk: Hunk, cursor: int, label: str) -> int:
    size = len(hunk.old)
    if size == 0:  # a pure insert after line `start`: nothing to verify but the place
        if not cursor <= hunk.start <= len(lines):
            raise ToolError(f"{label}: inserts after line {hunk.start}, outside the file")
        return hunk.start
    hint = min(max(hunk.start - 1, cursor), max(len(lines) - size, cursor))
    last = len(lines) - size
    for distance in range(max(hint - cursor, last - hint) + 1):
        for at in (hint - distance, hint + distance):
            if cursor <= at <= last and lines[at : at + size] == hunk.old:
                return at
    where = next(
        (i for i in range(size) if hint + i >= len(lines) or lines[hint + i] != hunk.old[i]), 0
    )
    found = lines[hint + where] if hint + where < len(lines) else "<end of file>"
    raise ToolError(
        f"{label} does not match the file: its context and '-' lines occur nowhere after line "
        f"{cursor}. Near line {hint + where + 1} the diff expects {hunk.old[where]!r} but the "
        f"file has {found!r}. Re-read the file and regenerate the diff, or use `edits`. "
        "Nothing was changed."
    )


def apply_diff(text: str, diff: str) -> tuple[str, str]:
    """Apply a unified diff; context and removed lines must match exactly.

    Line numbers in `@@` headers are hints: a hunk is placed at the matching position nearest
    to them (after the previous hunk), as `patch` does with an offset but no fuzz.
    """
    hunks = parse_diff(diff)
    newline = text.endswith("\n") or not text
    lines = text.split("\n")[:-1] if newline else text.split("\n")
    out: list[str] = []
    cursor = 0
    for number, hunk in enumerate(hunks, 1):
        label = f"hunk {number} of {len(hunks)} ({hunk.header})"
        at = _locate_hunk(lines, hunk, cursor, label)
        out += lines[cursor:at] + hunk.new
        cursor = at + len(hunk.old)
        if cursor == len(lines) and (hunk.new_no_eol or hunk.old_no_eol):
            newline = not hunk.new_no_eol
    out += lines[cursor:]
    result = "\n".join(out) + ("\n" if newline and out else "")
    return result, f"{len(hunks)} hunk(s) applied"
