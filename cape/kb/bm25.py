"""Ranking doc sections for a question: BM25F over sections plus the best block in each.

A section is scored twice. As a whole (Okapi BM25 whose term frequencies are the body's plus
the heading's times `HEADING_WEIGHT`, the parent headings `PARENT_WEIGHT`: a simple BM25F), so a
question that names a section's subject finds the section. And by its best block (a paragraph,
list item, table row or code block, each a document of its own with the section's headings),
so the one settings row or sentence that answers lifts its section even when the section is
long. Page introductions weigh `INTRO_WEIGHT`: they mention everything and answer little.
The query's terms carry weights (`cape.kb.concepts.expand`: the user's words 1, the docs' terms
for their everyday words less). `cape.kb.hybrid` fuses this ranking with the embedding model's.

Our own scorer rather than a BM25 package: none of them does fields or per-term weights.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

import cape
from cape.kb.blocks import blocks
from cape.kb.concepts import expand
from cape.kb.passages import SEPARATOR, Passage
from cape.kb.text import tokens

K1 = 1.2
B = 0.75
HEADING_WEIGHT = 3
PARENT_WEIGHT = 1
BLOCK_WEIGHT = 0.7
INTRO_WEIGHT = 0.6
BLOCK_HEADING_WEIGHT = 1
ALIAS_WEIGHT = 1  # a term of a section's hidden phrasings (`cape.kb.aliases`), once per section


def default_docs_dir() -> Path:
    """The repository's `docs/`, next to the packages."""
    return Path(cape.__file__).resolve().parents[1] / "docs"


def heading_terms(passage: Passage, own: int, parents: int) -> Counter[str]:
    """The terms of a passage's heading (`own` times) and its parent headings (`parents`)."""
    *above, heading = passage.title.split(SEPARATOR)
    counts: Counter[str] = Counter()
    for term in tokens(heading):
        counts[term] += own
    for term in tokens(" ".join(above)):
        counts[term] += parents
    return counts


def passage_terms(passage: Passage) -> Counter[str]:
    """The weighted term frequencies of a passage: heading, parent headings and body."""
    return Counter(tokens(passage.text)) + heading_terms(passage, HEADING_WEIGHT, PARENT_WEIGHT)


def alias_terms(phrasings: tuple[str, ...]) -> Counter[str]:
    """The terms of a section's hidden phrasings, each counted `ALIAS_WEIGHT` (once each)."""
    counts: Counter[str] = Counter()
    for term in {t for text in phrasings for t in tokens(text)}:
        counts[term] = ALIAS_WEIGHT
    return counts


class Field:
    """One BM25 collection: postings, lengths and document frequencies."""

    def __init__(self, docs: list[Counter[str]]) -> None:
        self.n = len(docs)
        self.lengths = [sum(d.values()) for d in docs]
        self.avg = sum(self.lengths) / self.n if self.n else 0.0
        self.postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for i, counts in enumerate(docs):
            for term, tf in counts.items():
                self.postings[term].append((i, tf))

    def idf(self, term: str) -> float:
        """Inverse document frequency; a term no document has gets the highest value."""
        df = len(self.postings.get(term, ()))
        return math.log(1 + (self.n - df + 0.5) / (df + 0.5))

    def scores(self, weights: dict[str, float]) -> dict[int, float]:
        """Okapi BM25 of every document sharing a term with the weighted query."""
        out: dict[int, float] = defaultdict(float)
        for term, weight in weights.items():
            idf = self.idf(term)
            for i, tf in self.postings.get(term, ()):
                norm = K1 * (1 - B + B * self.lengths[i] / self.avg)
                out[i] += weight * idf * tf * (K1 + 1) / (tf + norm)
        return out


@dataclass(frozen=True)
class Match:
    """How a query met the index: scored passages and the query terms the best one holds."""

    passages: list[Passage]
    query_terms: list[str]  # the user's own terms
    idf: dict[str, float]  # of every weighted term
    weights: dict[str, float]  # the user's terms and the concept terms added for them
    covered: frozenset[str]  # weighted terms present in the best passage
    order: list[int]  # indexes of the scored passages in the index, best first


class Bm25Index:
    """Sections ranked by BM25F (k1=1.2, b=0.5) plus their best block."""

    def __init__(
        self, passages: list[Passage], aliases: list[tuple[str, ...]] | None = None
    ) -> None:
        self.passages = passages
        phrasings = aliases or [() for _ in passages]
        self.terms = [
            passage_terms(p) + alias_terms(a) for p, a in zip(passages, phrasings, strict=True)
        ]
        self.sections = Field(self.terms)
        owners: list[int] = []
        block_docs: list[Counter[str]] = []
        for i, p in enumerate(passages):
            head = heading_terms(p, BLOCK_HEADING_WEIGHT, 0)
            texts = [block.text for block in blocks(p.text)] + list(phrasings[i])
            for text in texts:
                if terms := tokens(text):
                    owners.append(i)
                    block_docs.append(Counter(terms) + head)
        self.block_owner = owners
        self.blocks = Field(block_docs)

    @property
    def lengths(self) -> list[int]:
        """The weighted length of each passage."""
        return self.sections.lengths

    def idf(self, term: str) -> float:
        """The section-level inverse document frequency of `term`."""
        return self.sections.idf(term)

    def match(self, query: str, top_k: int) -> Match:
        """The `top_k` best passages for `query` (only those sharing a term with it)."""
        weights = expand(query)
        totals = self.sections.scores(weights)
        best_block: dict[int, float] = defaultdict(float)
        for b, s in self.blocks.scores(weights).items():
            owner = self.block_owner[b]
            best_block[owner] = max(best_block[owner], s)
        scored: list[tuple[float, int]] = []
        for i, s in totals.items():
            total = s + BLOCK_WEIGHT * best_block[i]
            if self.passages[i].level == 1:
                total *= INTRO_WEIGHT
            scored.append((total, i))
        scored.sort(key=lambda pair: (-pair[0], pair[1]))
        best = [replace(self.passages[i], score=round(s, 4)) for s, i in scored[:top_k]]
        covered = frozenset(t for t in weights if scored and self.terms[scored[0][1]].get(t))
        idf = {term: self.idf(term) for term in weights}
        order = [i for _, i in scored[:top_k]]
        return Match(best, list(dict.fromkeys(tokens(query))), idf, weights, covered, order)

    def search(self, query: str, top_k: int = 5) -> list[Passage]:
        """The `top_k` best passages for `query`, best first, each with its score."""
        return self.match(query, top_k).passages
