"""Turning text into search terms: lowercase words, no stopwords, light suffix stripping.

The stemmer is deliberately small: it folds the forms a question and the docs use for the
same idea ("approve", "approval", "approved", "approving" all become "approv") and leaves
everything else alone. Words joined by `_` (`input_required`, `max_cost`) count as themselves
and as their parts, so "input required" finds `input_required`.
"""

from __future__ import annotations

import re

WORD = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*")
_STOPWORDS = """
    a about above after again all also am an and any are as at be because been before being
    below between both but by can could did do does doing done down during each either else
    etc few for from further get gets got had has have having he her here hers him his how i
    if in into is it its itself just let me more most my myself no nor not now of off on
    once only or other our ours out over own same she should so some such than that the
    their them then there these they this those through to too under until up upon us very
    via was we were what when where which while who whom why will with within without would
    yes yet you your yours
"""
STOPWORDS = frozenset(_STOPWORDS.split())
# Tried in order, the first that leaves a stem of at least MIN_STEM characters wins.
SUFFIXES = ("ation", "ing", "ed", "al", "er", "ly", "e")
MIN_STEM = 3


def stem(word: str) -> str:
    """The light stem of a lowercase word (`retries` -> `retry`, `approval` -> `approv`)."""
    if len(word) <= MIN_STEM or word.isdigit():
        return word
    for suffix, repl in (("sses", "ss"), ("ies", "y"), ("ied", "y")):
        if word.endswith(suffix):
            return word[: -len(suffix)] + repl
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= MIN_STEM:
            word = word[: -len(suffix)]
            # "stopped" -> "stopp" -> "stop", as "stop" itself is stemmed.
            if suffix in ("ing", "ed") and word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]
            break
    return word


def tokens(text: str) -> list[str]:
    """The search terms of `text`, in order (compounds followed by their parts)."""
    terms: list[str] = []
    for word in WORD.findall(text.lower()):
        parts = word.split("_")
        for piece in (word, *parts) if len(parts) > 1 else (word,):
            if piece and piece not in STOPWORDS:
                terms.append(stem(piece))
    return terms
