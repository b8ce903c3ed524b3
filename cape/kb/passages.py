"""Splitting Markdown docs into passages: one per `##` / `###` section, linkable by anchor.

A passage's title is its heading path under the document's `#` title, joined by SEPARATOR
(U+203A: "Agents \u203a Budgets"); its anchor is the slug GitHub gives the heading, so
`docs/agents.md#budgets` opens it.
Headings inside fenced code (a `# comment` in a shell block) are text, not headings.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^ {0,3}(```|~~~)")
LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
SEPARATOR = " \u203a "  # single right-pointing angle quotation mark
PASSAGE_LEVELS = (2, 3)
README = "README.md"


@dataclass(frozen=True)
class Passage:
    """One section of the docs; `score` is set on search results."""

    doc: str  # file name inside the docs dir, e.g. "agents.md"
    title: str  # heading path joined by SEPARATOR, e.g. Agents, Budgets
    anchor: str  # GitHub-style slug of the section's heading
    text: str  # the section's Markdown without its heading line
    level: int  # 1 for a document's introduction, 2 or 3 for sections
    score: float = 0.0
    folder: str = "docs/"  # where `doc` lives in the repository ("" for the README)

    @property
    def heading(self) -> str:
        """The section's own heading (the last part of the title)."""
        return self.title.rsplit(SEPARATOR, 1)[-1]

    @property
    def path(self) -> str:
        """Where to read it: `docs/agents.md#budgets` (`README.md#configuration`)."""
        return f"{self.folder}{self.doc}#{self.anchor}"


def plain(heading: str) -> str:
    """A heading as rendered text: no code ticks, emphasis markers or link targets."""
    return LINK.sub(r"\1", heading).replace("`", "").replace("*", "").strip()


def slugify(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens."""
    text = plain(heading).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


class _Anchors:
    """Unique anchors within one file, as GitHub makes them (`usage`, `usage-1`, ...)."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self.made: set[str] = set()

    def make(self, heading: str) -> str:
        base = slugify(heading)
        count = self.seen[base]
        self.seen[base] += 1
        anchor = base if count == 0 else f"{base}-{count}"
        self.made.add(anchor)
        return anchor


def split_markdown(doc: str, markdown: str, folder: str = "docs/") -> list[Passage]:
    """The passages of one Markdown file (sections without text are left out)."""
    anchors = _Anchors()
    passages: list[Passage] = []
    title = Path(doc).stem
    path: list[str] = []  # headings of levels 2.. above the current passage
    current: tuple[int, str, list[str]] | None = None  # (level, anchor, lines)
    in_fence = False

    def close() -> None:
        if current is None:
            return
        level, anchor, lines = current
        text = "\n".join(lines).strip()
        if text:
            full = SEPARATOR.join([title, *path])
            passages.append(Passage(doc, full, anchor, text, level, folder=folder))

    for line in markdown.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else HEADING.match(line)
        if match is None or (level := len(match.group(1))) not in (1, *PASSAGE_LEVELS):
            if match is not None:
                anchors.make(match.group(2))  # deeper headings still take up their slug
            if current is not None:
                current[2].append(line)
            continue
        heading = match.group(2)
        anchor = anchors.make(heading)
        close()
        if level == 1:
            title, path = plain(heading), []
        else:
            path = [*path[: level - 2], plain(heading)]
        current = (level, anchor, [])
    close()
    return passages


def heading_anchors(markdown: str) -> set[str]:
    """Every anchor a file's headings get (all levels), for checking links into it."""
    anchors = _Anchors()
    in_fence = False
    for line in markdown.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and (match := HEADING.match(line)):
            anchors.make(match.group(2))
    return anchors.made


def load_passages(docs_dir: Path) -> list[Passage]:
    """Every passage of the `*.md` files directly in `docs_dir`, files in name order.

    The project's README.md beside the docs directory comes last: its settings table answers
    questions no page of the docs does.
    """
    passages: list[Passage] = []
    for file in sorted(docs_dir.glob("*.md")):
        passages.extend(split_markdown(file.name, file.read_text(encoding="utf-8")))
    readme = docs_dir.parent / README
    if readme.is_file() and docs_dir.name == "docs":
        passages.extend(split_markdown(README, readme.read_text(encoding="utf-8"), folder=""))
    return passages


EXCERPT_CHARS = 1200
# How a search result reads (docs_search's output); the demo model quotes its first section.
RESULTS_INTRO = "Documentation sections for"
RESULTS_SEPARATOR = "\n\n---\n\n"


def _excerpt(text: str) -> str:
    if len(text) <= EXCERPT_CHARS:
        return text
    return text[:EXCERPT_CHARS].rsplit(" ", 1)[0] + " [...]"


def render_results(query: str, passages: list[Passage]) -> str:
    """What a model reads of a search: each passage's title, path (to cite) and Markdown."""
    if not passages:
        return f"No documentation section matches {query!r}. Try other words."
    parts = [f"{RESULTS_INTRO} {query!r}, best first:"]
    for n, p in enumerate(passages, 1):
        parts.append(f"[{n}] {p.title}\npath: {p.path}\n\n{_excerpt(p.text)}")
    return RESULTS_SEPARATOR.join(parts)
