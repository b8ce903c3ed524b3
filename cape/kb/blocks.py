"""Reading a passage's Markdown as blocks: prose, list items, table rows and code.

Enough Markdown for shaping answers, not a renderer: fenced code keeps its language, list
items are joined with their continuation lines, and commands are picked out of shell blocks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

FENCE = re.compile(r"^ {0,3}(```|~~~)\s*([\w+-]*)")
ITEM = re.compile(r"^ {0,3}(?:[-*+]|\d+[.)])\s+(.*)$")
SHELL_LANGS = frozenset({"", "bash", "sh", "shell", "console", "zsh"})
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`(])")

Kind = Literal["prose", "item", "row", "code"]


@dataclass
class Block:
    """One piece of a passage; `lang` is set for code."""

    kind: Kind
    text: str
    lang: str = ""


def blocks(markdown: str) -> list[Block]:
    """The passage as blocks in order."""
    out: list[Block] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = FENCE.match(line)
        if fence:
            body: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].lstrip().startswith(fence.group(1)):
                body.append(lines[i])
                i += 1
            out.append(Block("code", "\n".join(body), fence.group(2).lower()))
        elif item := ITEM.match(line):
            text = [item.group(1)]
            while i + 1 < len(lines) and lines[i + 1].startswith("  ") and lines[i + 1].strip():
                if FENCE.match(lines[i + 1]) or ITEM.match(lines[i + 1]):
                    break
                i += 1
                text.append(lines[i].strip())
            out.append(Block("item", " ".join(text)))
        elif line.lstrip().startswith("|"):
            header = i + 1 < len(lines) and _separator(lines[i + 1])
            if not (header or _separator(line)):
                cells = [c.strip() for c in line.strip().strip("|").split("|")]
                out.append(Block("row", " — ".join(c for c in cells if c)))
        elif line.strip():
            para = [line.strip()]
            while i + 1 < len(lines) and _continues(lines[i + 1]):
                i += 1
                para.append(lines[i].strip())
            out.append(Block("prose", " ".join(para)))
        i += 1
    return out


def _separator(line: str) -> bool:
    """A table's `|---|:--:|` line."""
    cells = line.strip().strip("|").split("|")
    return line.lstrip().startswith("|") and all(set(c) <= set("-: ") for c in cells)


def _continues(line: str) -> bool:
    return bool(line.strip()) and not (
        FENCE.match(line) or ITEM.match(line) or line.lstrip().startswith(("|", "#"))
    )


def commands(code: Block) -> list[str]:
    """The commands of a shell block, continuation lines joined, with their trailing comments.

    Returns lines like "`make dev` (creates .venv, installs ...)"; other languages give none.
    """
    if code.kind != "code" or code.lang not in SHELL_LANGS:
        return []
    found: list[str] = []
    pending = ""
    for raw in code.text.splitlines():
        line = raw.strip()
        if not line or (line.startswith("#") and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        line, pending = pending + line, ""
        command, _, comment = line.partition("  #")
        command = command.strip()
        note = comment.strip().lstrip("#").strip()
        found.append(f"`{command}`" + (f" ({note})" if note else ""))
    return found


def sentences(text: str) -> list[str]:
    """Prose cut into sentences (good enough for steps when a passage has no list)."""
    return [s.strip() for s in SENTENCE_END.split(text) if s.strip()]


def prose(markdown: str, code_note: str = "") -> str:
    """The passage with each code block replaced by `code_note` (or dropped when it is "")."""
    parts: list[str] = []
    for block in blocks(markdown):
        if block.kind == "code":
            if code_note and parts and parts[-1] != code_note:
                parts.append(code_note)
            continue
        if block.kind == "item" or block.kind == "row":
            parts.append(f"- {block.text}")
        else:
            parts.append(block.text)
    return "\n\n".join(_merge_lists(parts))


def _merge_lists(parts: list[str]) -> list[str]:
    """Consecutive list items stay together in one paragraph."""
    merged: list[str] = []
    for part in parts:
        if part.startswith("- ") and merged and merged[-1].startswith("- "):
            merged[-1] += "\n" + part
        else:
            merged.append(part)
    return merged
