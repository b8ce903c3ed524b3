"""An Okapi BM25 index over doc passages, with the section heading weighted above the body.

Each passage is scored as one document whose term frequencies are the body's plus the
heading's times `HEADING_WEIGHT` (the parent headings count `PARENT_WEIGHT`), a simple BM25F:
a question that names a section's subject finds the section, not a passage mentioning it.
The index of a docs directory is built once per process and cached.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import structlog

import cape
from cape.kb.passages import SEPARATOR, Passage, load_passages
from cape.kb.text import tokens

log = structlog.get_logger(__name__)

K1 = 1.5
B = 0.75
HEADING_WEIGHT = 3
PARENT_WEIGHT = 1


def default_docs_dir() -> Path:
    """The repository's `docs/`, next to the packages."""
    return Path(cape.__file__).resolve().parents[1] / "docs"


def passage_terms(passage: Passage) -> Counter[str]:
    """The weighted term frequencies of a passage: heading, parent headings and body."""
    *parents, heading = passage.title.split(SEPARATOR)
    counts = Counter(tokens(passage.text))
    for term in tokens(heading):
        counts[term] += HEADING_WEIGHT
    for term in tokens(" ".join(parents)):
        counts[term] += PARENT_WEIGHT
    return counts


@dataclass(frozen=True)
class Match:
    """How a query met the index: scored passages and the query terms the best one holds."""

    passages: list[Passage]
    query_terms: list[str]
    idf: dict[str, float]
    covered: frozenset[str]  # query terms present in the best passage


class Bm25Index:
    """Okapi BM25 (k1=1.5, b=0.75) over passages."""

    def __init__(self, passages: list[Passage]) -> None:
        self.passages = passages
        self.terms = [passage_terms(p) for p in passages]
        self.lengths = [sum(t.values()) for t in self.terms]
        self.avg_length = sum(self.lengths) / len(self.lengths) if self.lengths else 0.0
        self.df: Counter[str] = Counter()
        for counts in self.terms:
            self.df.update(counts.keys())

    def idf(self, term: str) -> float:
        """Inverse document frequency; a term no passage has gets the highest value."""
        n, df = len(self.passages), self.df.get(term, 0)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def match(self, query: str, top_k: int) -> Match:
        """The `top_k` best passages for `query` (only those sharing a term with it)."""
        terms = list(dict.fromkeys(tokens(query)))
        idf = {term: self.idf(term) for term in terms}
        scored: list[tuple[float, int]] = []
        for i, counts in enumerate(self.terms):
            norm = K1 * (1 - B + B * self.lengths[i] / self.avg_length) if self.avg_length else K1
            score = 0.0
            for term in terms:
                tf = counts.get(term, 0)
                if tf:
                    score += idf[term] * tf * (K1 + 1) / (tf + norm)
            if score > 0:
                scored.append((score, i))
        scored.sort(key=lambda pair: (-pair[0], pair[1]))
        best = [replace(self.passages[i], score=round(s, 4)) for s, i in scored[:top_k]]
        covered = frozenset(t for t in terms if best and self.terms[scored[0][1]].get(t))
        return Match(best, terms, idf, covered)

    def search(self, query: str, top_k: int = 5) -> list[Passage]:
        """The `top_k` best passages for `query`, best first, each with its score."""
        return self.match(query, top_k).passages


_indexes: dict[Path, Bm25Index] = {}
_lock = threading.Lock()


def get_index(docs_dir: Path | None = None) -> Bm25Index:
    """The index of `docs_dir` (default: the repository's docs), built on first use."""
    where = (docs_dir or default_docs_dir()).resolve()
    with _lock:  # tools call this from worker threads: build each index once
        if where not in _indexes:
            passages = load_passages(where) if where.is_dir() else []
            if not passages:
                log.warning("no documentation passages found", docs_dir=str(where))
            _indexes[where] = Bm25Index(passages)
            log.info("docs index built", docs_dir=str(where), passages=len(passages))
        return _indexes[where]


def search(query: str, top_k: int = 5, docs_dir: Path | None = None) -> list[Passage]:
    """The `top_k` passages of the docs that best answer `query`, best first, with scores."""
    return get_index(docs_dir).search(query, top_k)
