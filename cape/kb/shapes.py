"""Shaping an answer from the chosen passages: prose, a numbered list, a checklist or code.

Every shape quotes the docs and names its sources; none adds words of its own beyond the
headers that say where the text comes from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cape.kb.blocks import blocks, commands, prose, sentences
from cape.kb.passages import Passage

MAX_ITEMS = 12


@dataclass(frozen=True)
class Level:
    """How much of the docs an answer quotes for a reader."""

    sources: int
    chars: int


Shape = Callable[[list[Passage], list[Passage], Level], str]
LEVELS = {
    "beginner": Level(sources=2, chars=900),
    "intermediate": Level(sources=2, chars=1500),
    "expert": Level(sources=3, chars=2500),
}


def _source(p: Passage) -> str:
    return f"From “{p.title}” ({p.path}):"


def _excerpt(text: str, limit: int) -> str:
    """Whole paragraphs up to `limit` characters; a first paragraph too long is cut at a word."""
    kept: list[str] = []
    size = 0
    for para in text.split("\n\n"):
        if kept and size + len(para) > limit:
            return "\n\n".join(kept) + "\n\n…"
        if not kept and len(para) > limit:
            return para[:limit].rsplit(" ", 1)[0] + " …"
        kept.append(para)
        size += len(para) + 2
    return "\n\n".join(kept)


def _text(chosen: list[Passage], rest: list[Passage], level: Level) -> str:
    parts = [
        f"{_source(p)}\n\n{_excerpt(prose(p.text, f'(example: {p.path})'), level.chars)}"
        for p in chosen
    ]
    return "\n\n".join(parts)


def _items(passages: list[Passage]) -> list[str]:
    """Steps in the order the docs give them: list items and shell commands, else sentences."""
    found: list[str] = []
    for p in passages:
        parts = blocks(p.text)
        for block in parts:
            if block.kind == "item":
                found.append(block.text)
            elif block.kind == "code":
                found.extend(f"Run {command}" for command in commands(block))
        if not found:
            found.extend(b.text for b in parts if b.kind == "row")
        if not found:
            for block in parts:
                if block.kind == "prose":
                    found.extend(sentences(block.text))
    return found[:MAX_ITEMS]


def _header(chosen: list[Passage]) -> str:
    return "Based on " + "; ".join(f"“{p.title}” ({p.path})" for p in chosen) + ":"


def _listed(marker: str) -> Shape:
    def shape(chosen: list[Passage], rest: list[Passage], level: Level) -> str:
        items = _items(chosen)
        if not items:
            return _text(chosen, rest, level)
        lines = [f"{marker.format(n=n)} {item}" for n, item in enumerate(items, 1)]
        return _header(chosen) + "\n\n" + "\n".join(lines)

    return shape


def _code(chosen: list[Passage], rest: list[Passage], level: Level) -> str:
    parts: list[str] = []
    # The best passages first; when they show no code, the next ones may.
    for group in (chosen, rest):
        for p in group:
            code = [b for b in blocks(p.text) if b.kind == "code"]
            if code:
                fenced = "\n\n".join(f"```{b.lang}\n{b.text}\n```" for b in code)
                parts.append(f"{_source(p)}\n\n{fenced}")
        if parts:
            return "\n\n".join(parts)
    return "The matching sections have no code examples.\n\n" + _text(chosen, rest, level)


SHAPES: dict[str, Shape] = {
    "text": _text,
    "steps": _listed("{n}."),
    "checklist": _listed("- [ ]"),
    "code": _code,
}
