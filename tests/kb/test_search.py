"""BM25 ranking over doc passages: order, heading weight, caching and the real docs."""

# ruff: noqa: RUF001  (titles are joined by U+203A; the tests compare them verbatim)

from __future__ import annotations

import math
from pathlib import Path

from cape.kb import Bm25Index, Passage, default_docs_dir, get_index, load_passages, search


def test_the_section_about_the_question_ranks_first(docs: Path) -> None:
    hits = search("how do I approve a tool call", 3, docs)
    assert hits[0].title == "Guide › Approvals"
    assert hits[0].path == "docs/guide.md#approvals"
    scores = [p.score for p in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(score > 0 for score in scores)


def test_a_heading_outweighs_a_mention_in_the_body(docs: Path) -> None:
    # "budget" is in the bodies of several sections but the heading of two.
    hits = search("budget", 5, docs)
    assert {hits[0].anchor, hits[1].anchor} <= {"budgets", "raising-a-budget", "budgets-1"}
    assert search("raise a budget", 1, docs)[0].anchor == "raising-a-budget"
    assert search("bubblewrap rlimits", 1, docs)[0].anchor == "the-sandbox"


def test_top_k_limits_the_results(docs: Path) -> None:
    assert len(search("restart worker budget approve", 2, docs)) == 2
    assert len(search("restart worker budget approve", 50, docs)) <= len(load_passages(docs))


def test_nothing_matches(docs: Path) -> None:
    assert search("zebra giraffe", 5, docs) == []
    assert search("how do I", 5, docs) == []  # only stopwords
    assert search("", 5, docs) == []


def test_the_index_is_built_once_per_directory(docs: Path, tmp_path: Path) -> None:
    first = get_index(docs)
    assert get_index(docs) is first
    assert get_index(docs / ".." / "docs") is first  # the same directory, another spelling
    other = tmp_path / "other"
    other.mkdir()
    assert get_index(other) is not first


def test_a_missing_docs_dir_gives_an_empty_index(tmp_path: Path) -> None:
    index = get_index(tmp_path / "absent")
    assert index.passages == []
    assert index.search("anything") == []


def test_okapi_scores_by_hand() -> None:
    """score = idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / average length))."""
    index = Bm25Index(
        [
            Passage("a.md", "A › Zeta", "zeta", "alpha alpha", 2),
            Passage("a.md", "A › Eta", "eta", "beta", 2),
        ]
    )
    # Passage 1: "alpha" twice in the body, plus its headings' words ("a" is a stopword).
    [hit] = index.search("alpha")
    lengths = index.lengths
    avg = sum(lengths) / 2
    idf = math.log(1 + (2 - 1 + 0.5) / (1 + 0.5))
    expected = idf * 2 * 2.5 / (2 + 1.5 * (1 - 0.75 + 0.75 * lengths[0] / avg))
    assert abs(hit.score - round(expected, 4)) < 1e-4


def test_the_real_docs_answer_approvals_first() -> None:
    hits = search("how do I approve a tool call", 5)
    assert hits[0].heading == "Approvals"
    assert hits[0].doc in ("concepts.md", "agents.md")
    assert default_docs_dir() == Path(__file__).resolve().parents[2] / "docs"
