"""Turning text into search terms: lowercase words, no stopwords, Snowball (Porter 2) stems.

Contractions are expanded before the words are cut ("don't" reads "do not", "what's" reads
"what"), so no fragment such as a lone `t` or `s` becomes a term. The product's own names keep
their form (`cape` must not become `cap`, which "spending cap" would match). Words joined by `_`
(`input_required`, `max_cost`) count as themselves and as their parts, so "input required"
finds `input_required`.
"""

from __future__ import annotations

import re
from functools import lru_cache

import snowballstemmer

WORD = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*")
# "can't" -> "can not", "won't" -> "will not", "it's" -> "it"; apostrophes of any kind.
_APOSTROPHES = re.compile(r"[\u2018\u2019\u02bc\u00b4`]")
_CONTRACTIONS = (
    (re.compile(r"\bwon't\b"), "will not"),
    (re.compile(r"\bcan't\b"), "can not"),
    (re.compile(r"\bshan't\b"), "shall not"),
    (re.compile(r"n't\b"), " not"),
    (re.compile(r"'(?:s|re|ve|ll|d|m)\b"), ""),
    (re.compile(r"\b(?:s|d|ll|re|ve|m|t)'(?=\s|$)"), ""),  # a dangling piece: "users' "
)
_STOPWORDS = """
    a about above after again all also am an and any are as at be because been before being
    below between both but by can could did do does doing done down during each either else
    etc few for from further get gets got had has have having he her here hers him his how i
    if in into is it its itself just let me more most my myself no nor not now of off on
    once only or other our ours out over own same she should so some such than that the
    their them then there these they this those through to too under until up upon us very
    via was we were what when where which while who whom why will with within without would
    yes yet you your yours shall may might must want wants need needs way ways thing things
    i'm ok okay please
"""
STOPWORDS = frozenset(_STOPWORDS.split())
# Names of the product and its parts that a stemmer would fold into common words.
KEEP = frozenset({"cape", "capecontrol", "temporal", "sse", "bwrap", "searxng", "ddgs"})
_stemmer = snowballstemmer.stemmer("english")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Snowball stem of a lowercase word (`approval` -> `approv`); product names kept."""
    if word in KEEP or word.isdigit() or len(word) <= 2:
        return word
    return str(_stemmer.stemWord(word))


def expand_contractions(text: str) -> str:
    """Lowercase text with contractions spelled out and possessive endings dropped."""
    text = _APOSTROPHES.sub("'", text.lower())
    for pattern, repl in _CONTRACTIONS:
        text = pattern.sub(repl, text)
    return text


def words(text: str) -> list[str]:
    """The lowercase words of `text` that carry meaning (compounds and their parts, unstemmed)."""
    found: list[str] = []
    for word in WORD.findall(expand_contractions(text)):
        parts = word.split("_")
        for piece in (word, *parts) if len(parts) > 1 else (word,):
            if piece and piece not in STOPWORDS:
                found.append(piece)
    return found


def tokens(text: str) -> list[str]:
    """The search terms of `text`, in order (compounds followed by their parts)."""
    return [stem(word) for word in words(text)]
