"""The guide's retrieval on its question sets (bench/guide_questions.yaml).

Floors, not targets (recall@1, @3, @5, MRR), a little under today's figures so that a change
that makes users' questions find their answers less often fails. Today, with about five hidden
phrasings a section (docs/.guide/aliases.yaml; the fourth round's were written by engineers who
never saw a question set), table rows encoded on their own and normalised score fusion:
development 0.775, 0.950, 0.988, 0.868 (third round 0.725, 0.950, 0.975, 0.840); `fresh` 0.722,
0.917, 0.972, 0.823 (0.611, 0.833, 0.889, 0.712); `fresh2` 0.594, 0.938, 0.969, 0.761 (0.750,
0.906, 0.906, 0.832); `fresh3` 0.672, 0.914, 0.983, 0.795 (0.655, 0.879, 0.914, 0.759);
`fresh4`, written by someone who never saw the tuning, 0.650, 0.917, 0.933, 0.782 (0.567,
0.783, 0.883, 0.697 before the fourth round's phrasings).
`python bench/guide_recall.py --misses` shows the figures and what is missed.
The docs' vectors come from the cache (`tests/conftest.py` encodes them once per session when
it is cold).
"""

from __future__ import annotations

from bench.guide_recall import gate, key, load_questions, load_unrelated, score
from cape.kb import get_index, retrieval_answer

QUESTIONS = load_questions()
FRESH = load_questions(part="fresh")
FRESH2 = load_questions(part="fresh2")
FRESH3 = load_questions(part="fresh3")
FRESH4 = load_questions(part="fresh4")


def test_the_sets_are_big_enough_and_name_real_sections() -> None:
    assert len(QUESTIONS) >= 60 and len(FRESH) >= 30 and len(FRESH2) >= 30
    assert len(FRESH3) >= 50 and len(FRESH4) >= 60
    known = {key(p) for p in get_index().passages}
    every = QUESTIONS + FRESH + FRESH2 + FRESH3 + FRESH4 + load_questions(part="holdout")
    wanted = {e for q in every for e in q.expect}
    # A renamed heading moves its anchor: update the question set with the docs.
    assert not sorted(wanted - known), f"expected sections not in the docs index: {wanted - known}"


def test_recall_and_mrr_floors() -> None:
    scores = score(QUESTIONS)
    # Some room under today's figures: other sections of the docs change too.
    assert scores.recall[1] >= 0.66, scores.line()
    assert scores.recall[3] >= 0.9, scores.line()
    assert scores.recall[5] >= 0.93, scores.line()
    assert scores.mrr >= 0.79, scores.line()


def test_held_out_questions_floors() -> None:
    for questions in (FRESH3, FRESH4):
        scores = score(questions)
        assert scores.recall[1] >= 0.55, scores.line()
        assert scores.recall[3] >= 0.85, scores.line()
        assert scores.recall[5] >= 0.88, scores.line()
        assert scores.mrr >= 0.7, scores.line()


def test_fresh_questions_floors() -> None:
    for questions in (FRESH, FRESH2):
        scores = score(questions)
        assert scores.recall[3] >= 0.75, scores.line()
        assert scores.recall[5] >= 0.83, scores.line()
        assert scores.mrr >= 0.65, scores.line()


def test_the_gate_shows_right_answers_and_stops_unrelated_ones() -> None:
    result = gate(QUESTIONS, load_unrelated())
    assert result.right_hidden == 0, result.line()
    # 27 before issue 21, 62 after its second round, 73 after its third, 74 now
    assert result.quoted_right >= 66, result.line()
    assert result.unrelated_shown == 0, result.line()


def test_a_right_first_section_in_other_words_is_shown() -> None:
    # The section holds a quarter of the question's words (the first gate hid such ones below
    # 0.3); its meaning is close, so the answer shows it.
    question = "the run died saying its history got too big"
    index = get_index()
    found = index.find(question, 5)
    assert index.coverage(found) < 0.3
    out = retrieval_answer(question)
    assert out["confidence"] >= 0.45
    assert out["resources"][0]["path"] == "docs/troubleshooting.md#history-too-large"
