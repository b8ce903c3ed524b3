"""How well the CapeAI Guide's retrieval finds the answering section (issue 21).

Scores `cape.kb.search` on bench/guide_questions.yaml: recall@1/3/5 (the share of questions
with an expected section among the first k results) and MRR (mean of 1/rank of the first
expected section, 0 when it is not in the first 10). It also scores the retrieval-only answer's
confidence gate: how often it shows a right or a wrong first section, and how often it says
"nothing relevant" although the first section was right.

    python bench/guide_recall.py            # the figures
    python bench/guide_recall.py --misses   # and every question whose section is not first
    python bench/guide_recall.py --bm25     # recall of BM25 alone (the ranking before issue 21's
                                            # embedding model, and the fallback without it)
    python bench/guide_recall.py --no-aliases  # without the sections' hidden phrasings

Six sets: `questions` (development), `holdout` (20 written after the BM25 tuning), `fresh` (36
in everyday words, written before the fusion was tuned; its weight was then chosen on
`questions` and `fresh` together), `fresh2` (32 written after that choice, never used to
choose anything), `fresh3` (58 written before the third round changed anything, never used
to choose anything) and `fresh4` (60 written by someone who had read only the docs, never used
to choose anything). bench/guide_leak.py checks how close the hidden phrasings
(docs/.guide/aliases.yaml) come to the held-out questions and scores without the closest.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cape.kb import HybridIndex, Passage, get_index, retrieval_answer, search

QUESTIONS = Path(__file__).with_name("guide_questions.yaml")
DEPTH = 10


@dataclass(frozen=True)
class Question:
    q: str
    expect: tuple[str, ...]


@dataclass(frozen=True)
class Scores:
    n: int
    recall: dict[int, float]
    mrr: float
    misses: list[tuple[str, list[str], tuple[str, ...]]]  # (question, top 3, expected)

    def line(self) -> str:
        r = self.recall
        return (
            f"n={self.n} recall@1={r[1]:.3f} recall@3={r[3]:.3f} recall@5={r[5]:.3f} "
            f"MRR={self.mrr:.3f}"
        )


@dataclass(frozen=True)
class Gate:
    right_shown: int  # the answer quotes a right first section
    wrong_shown: int  # the answer quotes a wrong first section
    right_hidden: int  # "nothing relevant" although the first section was right
    wrong_hidden: int  # "nothing relevant" and the first section was wrong anyway
    quoted_right: int  # answers whose quoted sections include a right one
    unrelated_shown: int  # questions the docs do not answer that got an answer anyway
    unrelated: int

    def line(self) -> str:
        return (
            f"gate: right shown {self.right_shown}, wrong shown {self.wrong_shown}, "
            f"right hidden {self.right_hidden}, wrong hidden {self.wrong_hidden}; "
            f"a right section quoted {self.quoted_right}; "
            f"unrelated answered {self.unrelated_shown}/{self.unrelated}"
        )


def key(p: Passage) -> str:
    """`<file>#<anchor>`, as the question set names sections."""
    return f"{p.doc}#{p.anchor}"


def _data(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def load_questions(path: Path = QUESTIONS, part: str = "questions") -> list[Question]:
    """The development questions (`part="holdout"`: those written after tuning)."""
    return [Question(item["q"], tuple(item["expect"])) for item in _data(path).get(part, [])]


def load_unrelated(path: Path = QUESTIONS) -> list[str]:
    return [str(q) for q in _data(path).get("unrelated", [])]


def score(
    questions: list[Question], ranker: Callable[[str, int], list[Passage]] | None = None
) -> Scores:
    rank_of = ranker or (lambda q, k: search(q, k))
    hits = {1: 0, 3: 0, 5: 0}
    reciprocal = 0.0
    misses: list[tuple[str, list[str], tuple[str, ...]]] = []
    for question in questions:
        ranked = [key(p) for p in rank_of(question.q, DEPTH)]
        rank = next((i for i, k in enumerate(ranked, 1) if k in question.expect), None)
        if rank is not None:
            reciprocal += 1 / rank
            for k in hits:
                hits[k] += rank <= k
        if rank != 1:
            misses.append((question.q, ranked[:3], question.expect))
    n = len(questions)
    return Scores(n, {k: v / n for k, v in hits.items()}, reciprocal / n, misses)


def gate(questions: list[Question], unrelated: list[str]) -> Gate:
    counts = {"right_shown": 0, "wrong_shown": 0, "right_hidden": 0, "wrong_hidden": 0}
    quoted = 0
    for question in questions:
        out = retrieval_answer(question.q, top_k=5)
        # The answer names each section it quotes by its path (docs/agents.md#budgets).
        quoted += any(_path(e) in out["answer"] for e in question.expect)
        top = search(question.q, 1)
        right = bool(top) and key(top[0]) in question.expect
        shown = bool(out["resources"])
        counts[f"{'right' if right else 'wrong'}_{'shown' if shown else 'hidden'}"] += 1
    shown_anyway = sum(bool(retrieval_answer(q, top_k=5)["resources"]) for q in unrelated)
    return Gate(
        **counts, quoted_right=quoted, unrelated_shown=shown_anyway, unrelated=len(unrelated)
    )


def _path(expected: str) -> str:
    return expected if expected.startswith("README.md") else f"docs/{expected}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="list the questions not ranked 1")
    parser.add_argument("--bm25", action="store_true", help="rank with BM25 alone")
    parser.add_argument("--no-aliases", action="store_true", help="without hidden phrasings")
    args = parser.parse_args()
    ranker: Callable[[str, int], list[Passage]] | None = None
    if args.bm25:
        ranker = lambda q, k: get_index().bm25.search(q, k)  # noqa: E731
    elif args.no_aliases:
        ranker = HybridIndex(get_index().passages).search
    questions = load_questions()
    (ranker or search)("warm up: load the model and the vectors", 1)
    started = time.perf_counter()
    scores = score(questions, ranker)
    print("development:", scores.line())
    print(f"{(time.perf_counter() - started) * 1000 / len(questions):.1f} ms a question")
    if ranker is None:  # the gate reads the product's ranking
        print(gate(questions, load_unrelated()).line())
    sets = (
        ("holdout", "holdout (BM25 not tuned on it)"),
        ("fresh", "fresh (fusion weight chosen with it)"),
        ("fresh2", "fresh2 (never tuned on)"),
        ("fresh3", "fresh3 (third round, never tuned on)"),
        ("fresh4", "fresh4 (independent, never tuned on)"),
    )
    for part, label in sets:
        if group := load_questions(part=part):
            print(f"{label}:", score(group, ranker).line())
            if ranker is None:
                print(f"{label}:", gate(group, []).line())
    if args.misses:
        for q, top, expected in scores.misses:
            print(f"- {q}\n    got {top}\n    want {list(expected)}")


if __name__ == "__main__":
    main()
