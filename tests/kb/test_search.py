"""BM25 ranking over doc passages: order, heading weight, caching and the real docs."""

# ruff: noqa: RUF001  (titles are joined by U+203A; the tests compare them verbatim)

from __future__ import annotations

import math
from pathlib import Path

from cape.kb import Bm25Index, Passage, default_docs_dir, get_index, load_passages, search
from cape.kb.bm25 import BLOCK_WEIGHT, K1, B


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
    """score = section BM25 + BLOCK_WEIGHT * best block BM25, each term
    idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / average length))."""
    index = Bm25Index(
        [
            Passage("a.md", "A › Zeta", "zeta", "alpha alpha", 2),
            Passage("a.md", "A › Eta", "eta", "beta", 2),
        ]
    )
    # Passage 1: "alpha" twice in the body, plus its headings' words ("a" is a stopword).
    [hit] = index.search("alpha")

    def okapi(tf: int, length: int, lengths: list[int]) -> float:
        idf = math.log(1 + (2 - 1 + 0.5) / (1 + 0.5))
        avg = sum(lengths) / len(lengths)
        return idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / avg))

    # Section: alpha x2 + zeta x3 (heading) = 5 terms; the other: beta + eta x3 = 4.
    assert index.lengths == [5, 4]
    # Block: the paragraph "alpha alpha" with its heading once = 3; the other 2.
    assert index.blocks.lengths == [3, 2]
    expected = okapi(2, 5, [5, 4]) + BLOCK_WEIGHT * okapi(2, 3, [3, 2])
    assert abs(hit.score - round(expected, 4)) < 1e-4


def test_a_page_introduction_ranks_below_the_section_that_answers(docs: Path) -> None:
    # guide.md's introduction names approvals and budgets; the sections explain them.
    hits = search("approvals budgets", 5, docs)
    intro = next(i for i, p in enumerate(hits) if p.level == 1)
    assert intro > 0 and hits[0].level == 2


def test_one_answering_row_lifts_a_long_section(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    rows = "\n".join(f"| `CAPE_SETTING_{n}` | {n} | something else entirely |" for n in range(60))
    (root / "a.md").write_text(
        "# A\n\n## Settings\n\n| variable | default | meaning |\n|---|---|---|\n"
        + rows
        + "\n| `CAPE_SMTP_HOST` | – | the mail server of the email tool |\n\n"
        "## Mail\n\nThe email tool sends mail. Mail is sent by the email tool.\n"
    )
    assert search("which mail server does the email tool use", 1, root)[0].anchor == "settings"


def test_everyday_words_find_the_products_terms(docs: Path) -> None:
    # Neither "money" nor "ran out" is in the docs: the concept layer adds `budget`.
    assert search("my job ran out of money", 1, docs)[0].anchor in {"budgets", "raising-a-budget"}
    assert search("sign off on a call", 1, docs)[0].anchor == "approvals"


def test_the_readme_beside_the_docs_is_indexed() -> None:
    hits = search("where do I put my github token", 5)
    readme = next(p for p in hits if p.path == "README.md#configuration")
    assert readme.doc == "README.md" and readme.folder == ""


def test_the_real_docs_answer_approvals_first() -> None:
    hits = search("how do I approve a tool call", 5)
    assert hits[0].heading == "Approvals"
    assert hits[0].doc in ("concepts.md", "agents.md")
    assert default_docs_dir() == Path(__file__).resolve().parents[2] / "docs"
