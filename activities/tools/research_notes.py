"""Picking the passages of fetched pages that bear on a question, without repeats.

A page's text is cut into paragraphs; every paragraph of every page is one document of a BM25
collection (`cape.kb.bm25.Field`, the docs search's scorer) and the question's terms rank them.
Each source keeps its best few paragraphs, in the order the page gives them. A paragraph that
repeats one already kept (the same text syndicated on two sites, a quote, a boilerplate
notice) is dropped: two paragraphs are the same when most of their word 4-grams are.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from cape.kb.bm25 import Field
from cape.kb.text import tokens

MIN_PARAGRAPH = 60  # characters; shorter lines are menus, captions and bylines
MAX_PASSAGE = 700  # characters of one passage in the notes
PER_SOURCE = 3
SAME = 0.6  # share of shared 4-grams above which two paragraphs are one
SHINGLE = 4


@dataclass
class Source:
    """A page that was read: where, what it is called, and the passages kept from it."""

    url: str
    title: str
    text: str
    retrieved_at: str
    author: str = ""
    date: str = ""
    sitename: str = ""
    status: int = 200
    media_type: str = ""
    cut: bool = False  # the page was longer than the bytes left to read
    passages: list[str] = field(default_factory=list)

    def citation(self, number: int) -> dict[str, Any]:
        """The `citation` event of this source (web_fetch's fields, plus its number)."""
        return {
            "number": number,
            "url": self.url,
            "title": self.title,
            "retrieved_at": self.retrieved_at,
            "status": self.status,
            "media_type": self.media_type or "unknown",
        }


def paragraphs(text: str) -> list[str]:
    """The paragraphs of extracted text; short lines join the paragraph that follows them."""
    found: list[str] = []
    pending = ""
    for line in text.splitlines():
        line = " ".join(line.split())
        if not line:
            continue
        pending = f"{pending} {line}".strip() if pending else line
        if len(pending) >= MIN_PARAGRAPH:
            found.append(pending)
            pending = ""
    if pending and (len(pending) >= MIN_PARAGRAPH or not found):
        found.append(pending)
    return found


def shingles(text: str) -> frozenset[tuple[str, ...]]:
    """The word 4-grams of a paragraph (lowercase words, punctuation ignored)."""
    words = re.findall(r"\w+", text.lower())
    if len(words) < SHINGLE:
        return frozenset({tuple(words)})
    return frozenset(tuple(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1))


def _same(a: frozenset[tuple[str, ...]], b: frozenset[tuple[str, ...]]) -> bool:
    smaller = min(len(a), len(b)) or 1
    return len(a & b) / smaller >= SAME


def clip(passage: str) -> str:
    """A passage within MAX_PASSAGE characters, cut at a word."""
    if len(passage) <= MAX_PASSAGE:
        return passage
    return passage[:MAX_PASSAGE].rsplit(" ", 1)[0] + " …"


def select(question: str, sources: list[Source], per_source: int = PER_SOURCE) -> int:
    """Fill each source's `passages` with its best paragraphs for `question`.

    Returns:
        How many paragraphs were dropped as repeats of one kept before.
    """
    owners: list[int] = []
    texts: list[str] = []
    for n, source in enumerate(sources):
        for para in paragraphs(source.text):
            owners.append(n)
            texts.append(para)
    scores = Field([Counter(tokens(t)) for t in texts]).scores(dict.fromkeys(tokens(question), 1.0))
    ranked = sorted(range(len(texts)), key=lambda i: (-scores.get(i, 0.0), i))
    kept: list[tuple[int, frozenset[tuple[str, ...]]]] = []
    repeats = 0
    taken: Counter[int] = Counter()
    for i in ranked:
        owner = owners[i]
        if taken[owner] >= per_source or (scores.get(i, 0.0) <= 0 and taken[owner]):
            continue
        grams = shingles(texts[i])
        if any(_same(grams, other) for _, other in kept):
            repeats += 1
            continue
        kept.append((i, grams))
        taken[owner] += 1
    for i, _ in sorted(kept):  # page order within each source
        sources[owners[i]].passages.append(clip(texts[i]))
    return repeats
