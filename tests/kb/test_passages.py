"""Splitting Markdown into linkable passages, and the words the index sees."""

# ruff: noqa: RUF001  (titles are joined by U+203A; the tests compare them verbatim)

from __future__ import annotations

from pathlib import Path

import pytest

from cape.kb import load_passages, slugify, split_markdown
from cape.kb.text import stem, tokens


def test_passages_follow_the_heading_structure(docs: Path) -> None:
    passages = load_passages(docs)
    assert [(p.doc, p.title, p.anchor, p.level) for p in passages] == [
        ("guide.md", "Guide", "guide", 1),
        ("guide.md", "Guide › Approvals", "approvals", 2),
        ("guide.md", "Guide › Budgets", "budgets", 2),
        ("guide.md", "Guide › Budgets › Raising a budget", "raising-a-budget", 3),
        ("guide.md", "Guide › Budgets", "budgets-1", 2),
        ("guide.md", "Guide › Restart", "restart", 2),
        ("ops.md", "Operations › The sandbox", "the-sandbox", 2),
        ("ops.md", "Operations › Restart", "restart", 2),
        ("ops.md", "Operations › Long read", "long-read", 2),
    ]  # notes.txt is not Markdown; ops.md has no introduction, so no passage for its title
    approvals = passages[1]
    assert approvals.path == "docs/guide.md#approvals"
    assert approvals.heading == "Approvals"
    # A `# comment` inside a code fence is text, not a heading.
    assert "# not a heading: a comment inside a fence" in approvals.text
    assert approvals.text.startswith("A tool marked for approval")
    # Deeper headings stay in their section's text (and still take their slug).
    assert "#### Deep heading" in passages[4].text
    assert "Deep text" in passages[4].text


def test_a_section_without_text_of_its_own_is_left_out() -> None:
    passages = split_markdown("a.md", "# A\n\n## Empty\n\n### Child\n\nchild text\n")
    assert [(p.title, p.anchor) for p in passages] == [("A › Empty › Child", "child")]


def test_a_level_three_section_directly_under_the_title() -> None:
    passages = split_markdown("a.md", "# A\n\n### Deep\n\ntext\n\n## Next\n\nmore\n")
    assert [p.title for p in passages] == ["A › Deep", "A › Next"]


def test_a_file_without_a_title_uses_its_name() -> None:
    [passage] = split_markdown("notes.md", "## Section\n\ntext")
    assert passage.title == "notes › Section"


@pytest.mark.parametrize(
    ("heading", "slug"),
    [
        ("Budgets", "budgets"),
        ("409 conflict: what it means", "409-conflict-what-it-means"),
        ("Task waits in input_required", "task-waits-in-input_required"),
        (
            "Guarding a change: `workflow.patched()` and `deprecate_patch()`",
            "guarding-a-change-workflowpatched-and-deprecate_patch",
        ),
        (
            "Throughput — `make bench` / `python bench/throughput.py`",
            "throughput--make-bench--python-benchthroughputpy",
        ),
        ("Read [the API](api.md) first", "read-the-api-first"),
        ("**Bold** and *emphasis*", "bold-and-emphasis"),
        ("Events: SSE and WebSocket", "events-sse-and-websocket"),
    ],
)
def test_slugs_are_githubs(heading: str, slug: str) -> None:
    assert slugify(heading) == slug


@pytest.mark.parametrize(
    ("words", "stemmed"),
    [
        (["approve", "approval", "approved", "approving", "approvals"], "approv"),
        (["retry", "retries", "retried", "retrying"], "retri"),
        (["stop", "stops", "stopped", "stopping"], "stop"),
        (["schedule", "schedules", "scheduled"], "schedul"),
        (["budget", "budgets"], "budget"),
        (["configure", "configuration"], "configur"),
        (["status"], "status"),
        (["pass", "passes"], "pass"),
    ],
)
def test_word_forms_share_a_stem(words: list[str], stemmed: str) -> None:
    assert {stem(word) for word in words} == {stemmed}


def test_tokens_drop_stopwords_and_split_compounds() -> None:
    assert tokens("How do I approve a tool call?") == ["approv", "tool", "call"]
    assert tokens("input_required") == ["input_requir", "input", "requir"]
    assert tokens("Is it THE 429?") == ["429"]
    assert tokens("") == []


def test_the_products_name_is_not_a_cap() -> None:
    # "cape" -> "cap" made every question about a spending cap match the product's name.
    assert stem("cape") == "cape"
    assert "cap" not in tokens("How does Cape run CapeControl tasks?")
    assert tokens("a spending cap") == ["spend", "cap"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Can't I raise it?", ["rais"]),
        ("I don't want it", []),
        ("what's the worker's queue", ["worker", "queue"]),
        ("it won\u2019t start", ["start"]),
        ("the users' keys", ["user", "key"]),
    ],
)
def test_contractions_leave_no_fragments(text: str, expected: list[str]) -> None:
    assert tokens(text) == expected
