"""The docs search: BM25 (the docs' words) fused with dense retrieval (their meaning).

BM25 finds the section that names what the user names (`max_cost`, an error message, a
command); the sentence-embedding model finds the one that answers in other words than the
question's ("ran out of money" and the budget section). Each scores every section; the fused
score adds the two, each scaled to 0..1 (`fuse`; normalised score fusion beat reciprocal rank
fusion on the development sets: ranks hide how far behind a section is), the dense one weighted
`DENSE_WEIGHT` (tuned on bench/guide_questions.yaml's development sets only). A section votes
in the dense ranking only when its similarity reaches `MIN_SIMILARITY`, so a question the docs
do not answer ("zebra giraffe") finds nothing; page introductions count `INTRO_WEIGHT` of
theirs, as in BM25. Without the model (package not installed) the ranking is BM25's alone.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import structlog

from cape.kb.aliases import aliases_of, load_aliases
from cape.kb.bm25 import Bm25Index, Match, default_docs_dir
from cape.kb.dense import DenseIndex, load_encoder
from cape.kb.minilm import Vectors
from cape.kb.passages import Passage, load_passages
from cape.kb.vector_cache import VectorCache

log = structlog.get_logger(__name__)

DENSE_WEIGHT = 1.0
DEPTH = 50  # sections past this rank in either ranking add nothing from it
MIN_SIMILARITY = 0.15  # sections farther in meaning get no dense vote (unrelated questions: < 0.1)
MEANING_ALONE = 0.3  # a section sharing no word with the question needs this similarity
INTRO_WEIGHT = 0.6  # a page introduction's similarity counts this much: it names everything


@dataclass(frozen=True)
class Found:
    """A fused ranking and what the confidence gate reads from it."""

    passages: list[Passage]
    lexical: Match  # BM25's view: the query's weighted terms and those the best section holds
    similarity: float | None  # cosine of the first section to the question; None: no model
    top: int | None  # the first section's index in the index's passages; None: nothing found
    # Per returned section (by path): its BM25 score or its similarity, whichever is higher,
    # each as a share of the best one. Ranks alone do not say how far behind a section is.
    closeness: dict[str, float]


def fuse(lexical: list[int], scores: dict[int, float], similarity: Vectors) -> dict[int, float]:
    """Each section's fused score: its BM25 score and its similarity, each scaled to 0..1.

    BM25 counts as a share of the best section's; the similarity from the `DEPTH`-th best
    section's (0) to the best one's (1), since cosines of unrelated sections are not 0. Scores
    say how far apart two sections are, which ranks (reciprocal rank fusion) do not.
    """
    fused: dict[int, float] = {}
    order = similarity.argsort()[::-1][:DEPTH].tolist()
    floor = max(float(similarity[order[-1]]), MIN_SIMILARITY) if order else MIN_SIMILARITY
    span = max(float(similarity[order[0]]) - floor, 1e-6) if order else 1.0
    for i in order:
        if similarity[i] < floor:
            break
        fused[i] = DENSE_WEIGHT * (float(similarity[i]) - floor) / span
    best = max((scores[i] for i in lexical), default=0.0) or 1.0
    for i in lexical:
        fused[i] = fused.get(i, 0.0) + scores[i] / best
    # Short texts (table rows, phrasings) reach 0.2 with anything: meaning alone needs more.
    words = set(lexical)
    return {i: s for i, s in fused.items() if i in words or similarity[i] >= MEANING_ALONE}


class HybridIndex:
    """The sections of one docs directory, ranked by BM25 and by the embedding model."""

    def __init__(
        self,
        passages: list[Passage],
        use_model: bool = True,
        aliases: dict[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.passages = passages
        self.aliases = aliases_of(passages, aliases or {})
        self.bm25 = Bm25Index(passages, self.aliases)
        self.intro = np.array([p.level == 1 for p in passages], dtype=bool)
        self.use_model = use_model
        self._dense: DenseIndex | None = None
        self._dense_tried = False
        self._lock = threading.Lock()

    def dense(self) -> DenseIndex | None:
        """The dense index, built (or read from the vector cache) on first use."""
        with self._lock:
            if not self._dense_tried:
                self._dense_tried = True
                encoder = load_encoder() if self.use_model and self.passages else None
                if encoder is not None:
                    self._dense = DenseIndex(self.passages, encoder, VectorCache(), self.aliases)
            return self._dense

    def idf(self, term: str) -> float:
        """The section-level inverse document frequency of `term` (BM25's)."""
        return self.bm25.idf(term)

    def find(self, query: str, top_k: int) -> Found:
        """The `top_k` best sections for `query`, best first, each with its fused score."""
        lexical = self.bm25.match(query, len(self.passages))
        if not lexical.weights:  # only stopwords ("how do I"): nothing to look for
            return Found([], lexical, None, None, {})
        dense = self.dense()
        if dense is None:
            top = lexical.order[0] if lexical.order else None
            hits = lexical.passages[:top_k]
            first = hits[0].score if hits else 0.0
            closeness = {p.path: p.score / first if first > 0 else 0.0 for p in hits}
            return Found(hits, lexical, None, top, closeness)
        sims = dense.similarities(query)
        weighted = np.where(self.intro, sims * INTRO_WEIGHT, sims)
        lex = dict(zip(lexical.order, (p.score for p in lexical.passages), strict=True))
        fused = fuse(lexical.order[:DEPTH], lex, weighted)
        best = sorted(fused, key=lambda i: (-fused[i], i))[:top_k]
        passages = [replace(self.passages[i], score=round(fused[i], 4)) for i in best]
        if not best:
            return Found([], lexical, None, None, {})
        lex_best = max(lex.values(), default=0.0)
        sim_best = max(float(weighted.max()), 0.0)
        closeness = {
            self.passages[i].path: max(
                lex.get(i, 0.0) / lex_best if lex_best > 0 else 0.0,
                max(float(weighted[i]), 0.0) / sim_best if sim_best > 0 else 0.0,
            )
            for i in best
        }
        return Found(passages, lexical, float(sims[best[0]]), best[0], closeness)

    def coverage(self, found: Found) -> float:
        """The share of the question's weighted terms (by rarity) the first section holds."""
        weights, idf = found.lexical.weights, found.lexical.idf
        total = sum(w * idf[t] for t, w in weights.items())
        if found.top is None or total <= 0:
            return 0.0
        terms = self.bm25.terms[found.top]
        return sum(w * idf[t] for t, w in weights.items() if terms.get(t)) / total

    def search(self, query: str, top_k: int = 5) -> list[Passage]:
        """The `top_k` best sections for `query`, best first, each with its score."""
        return self.find(query, top_k).passages


_indexes: dict[Path, HybridIndex] = {}
_lock = threading.Lock()


def get_index(docs_dir: Path | None = None) -> HybridIndex:
    """The index of `docs_dir` (default: the repository's docs), built on first use."""
    where = (docs_dir or default_docs_dir()).resolve()
    with _lock:  # tools call this from worker threads: build each index once
        if where not in _indexes:
            passages = load_passages(where) if where.is_dir() else []
            if not passages:
                log.warning("no documentation passages found", docs_dir=str(where))
            aliases = load_aliases(where) if where.is_dir() else {}
            _indexes[where] = HybridIndex(passages, aliases=aliases)
            log.info("docs index built", docs_dir=str(where), passages=len(passages))
        return _indexes[where]


def search(query: str, top_k: int = 5, docs_dir: Path | None = None) -> list[Passage]:
    """The `top_k` sections of the docs that best answer `query`, best first, with scores."""
    return get_index(docs_dir).search(query, top_k)
