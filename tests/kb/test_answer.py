"""Retrieval-only answers: formats, confidence, resources and suggestions, bad input."""

# ruff: noqa: RUF001  (titles are joined by U+203A; the tests compare them verbatim)

from __future__ import annotations

from pathlib import Path

import pytest

from cape.errors import InvalidInput
from cape.kb import NOTE, retrieval_answer


def test_a_text_answer_quotes_the_best_section(docs: Path) -> None:
    out = retrieval_answer("how do I approve a tool call", docs_dir=docs)
    assert set(out) == {"answer", "suggestions", "confidence", "resources", "mode", "note"}
    assert out["mode"] == "retrieval"
    assert out["note"] == NOTE
    assert "no language model is configured" in out["note"].lower()
    answer = out["answer"]
    assert answer.startswith("From “Guide › Approvals” (docs/guide.md#approvals):")
    assert "A tool marked for approval waits for a person" in answer
    assert "- Read the pending input of the task." in answer
    assert "```" not in answer and "curl" not in answer  # prose only: code is for "code"
    assert "(example: docs/guide.md#approvals)" in answer  # where the code block was
    assert out["resources"][0] == {"title": "Guide › Approvals", "path": "docs/guide.md#approvals"}
    assert 0.5 <= out["confidence"] <= 1


def test_steps_are_the_sections_list_items_and_commands(docs: Path) -> None:
    out = retrieval_answer("approve a tool call", format="steps", docs_dir=docs)
    lines = out["answer"].splitlines()
    assert lines[0] == "Based on “Guide › Approvals” (docs/guide.md#approvals):"
    assert lines[2:] == [
        "1. Read the pending input of the task.",
        "2. Send `approve` or `reject` with its request id.",
        '3. Run `curl -X POST $API/v1/tasks/$TASK/input -d \'{"action": "approve"}\'`'
        " (approve the call)",
    ]


def test_a_checklist_falls_back_to_table_rows_then_sentences(docs: Path) -> None:
    out = retrieval_answer("bubblewrap sandbox", format="checklist", docs_dir=docs)
    items = [line for line in out["answer"].splitlines() if line.startswith("- [ ] ")]
    assert items == [
        "- [ ] Install bubblewrap on the host.",
        "- [ ] Restart the worker so it probes again.",
    ]
    out = retrieval_answer("raising a budget", format="checklist", docs_dir=docs)
    assert "- [ ] Answer `raise` with a higher `max_cost`." in out["answer"]
    assert "- [ ] The task then carries on." in out["answer"]


def test_code_gives_the_code_blocks(docs: Path) -> None:
    out = retrieval_answer("approve a tool call", format="code", docs_dir=docs)
    assert "```bash\n# not a heading: a comment inside a fence\ncurl -X POST" in out["answer"]
    assert out["answer"].startswith("From “Guide › Approvals”")


def test_code_without_code_says_so(docs: Path) -> None:
    out = retrieval_answer("bubblewrap sandbox", format="code", docs_dir=docs)
    assert out["answer"].startswith("The matching sections have no code examples.")
    assert "Bubblewrap isolates commands." in out["answer"]


def test_nothing_relevant(docs: Path) -> None:
    out = retrieval_answer("zebra giraffe", docs_dir=docs)
    assert out["confidence"] == 0.0
    assert out["resources"] == []
    assert "found nothing relevant" in out["answer"]
    assert out["suggestions"]  # where to start instead
    assert out["mode"] == "retrieval"


def test_suggestions_come_from_the_next_sections(docs: Path) -> None:
    out = retrieval_answer("approve budget restart worker", top_k=5, docs_dir=docs)
    used = {r["title"] for r in out["resources"]}
    assert len(out["resources"]) == 5
    assert 1 <= len(out["suggestions"]) <= 3
    for suggestion in out["suggestions"]:
        assert suggestion.startswith("What about ")
        assert any(title.split(" › ")[-1] in suggestion for title in used)


def test_a_close_runner_up_lowers_the_confidence(docs: Path) -> None:
    # Two identical "Restart" sections: the best one does not stand out.
    tie = retrieval_answer("restart worker settings", docs_dir=docs)
    clear = retrieval_answer("raising a budget max_cost", docs_dir=docs)
    assert tie["confidence"] < clear["confidence"]


def test_the_page_prefers_its_sections(docs: Path) -> None:
    # Two sections with the same text: their scores differ only by their titles' meaning.
    first = retrieval_answer("restart worker settings", docs_dir=docs)["resources"][0]
    assert first["path"] in ("docs/guide.md#restart", "docs/ops.md#restart")
    for page, path in (("operations", "docs/ops.md#restart"), ("guide", "docs/guide.md#restart")):
        answer = retrieval_answer("restart worker settings", context={"page": page}, docs_dir=docs)
        assert answer["resources"][0]["path"] == path


def test_the_reader_level_sets_the_length(docs: Path) -> None:
    beginner = retrieval_answer(
        "retention of workspaces", {"user_level": "beginner"}, docs_dir=docs
    )
    expert = retrieval_answer("retention of workspaces", {"user_level": "expert"}, docs_dir=docs)
    assert beginner["resources"][0]["path"] == "docs/ops.md#long-read"
    assert beginner["answer"].endswith("…")
    assert len(beginner["answer"]) < len(expert["answer"])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"query": ""}, "input.query"),
        ({"query": "   "}, "input.query"),
        ({"query": "x" * 2001}, "input.query"),
        ({"query": "budgets", "format": "poem"}, "input.format"),
        ({"query": "budgets", "top_k": 0}, "top_k"),
        ({"query": "budgets", "context": {"user_level": "guru"}}, "input.context.user_level"),
    ],
)
def test_bad_input_names_the_field(docs: Path, kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        retrieval_answer(docs_dir=docs, **kwargs)  # type: ignore[arg-type]
    assert raised.value.details[0]["field"] == field
