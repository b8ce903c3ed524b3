"""The sections' hidden phrasings (docs/.guide/aliases.yaml): found by, never shown."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cape.kb import HybridIndex, default_docs_dir, load_passages, render_results, search
from cape.kb.aliases import ALIASES_FILE, load_aliases, section_key
from cape.kb.dense import DenseIndex, chunks, load_encoder
from cape.kb.hybrid import fuse
from cape.kb.vector_cache import VectorCache


def _aliases(docs: Path, text: str) -> None:
    (docs / ALIASES_FILE).parent.mkdir()
    (docs / ALIASES_FILE).write_text(text)


def test_every_phrasing_of_the_docs_names_a_section() -> None:
    docs = default_docs_dir()
    aliases = load_aliases(docs)
    known = {section_key(p) for p in load_passages(docs)}
    assert len(aliases) >= 200
    # A renamed heading moves its anchor: move its phrasings with it.
    assert sorted(set(aliases) - known) == []
    assert all(texts and all(t.strip() for t in texts) for texts in aliases.values())


def test_a_phrasing_finds_its_section_and_is_never_shown(docs: Path) -> None:
    question = "my wallet is empty"
    assert HybridIndex(load_passages(docs), use_model=False).search(question) == []
    _aliases(docs, "guide.md#raising-a-budget:\n  - the wallet is empty, top it up\n")
    index = HybridIndex(load_passages(docs), use_model=False, aliases=load_aliases(docs))
    hits = index.search(question, 3)
    assert hits[0].path == "docs/guide.md#raising-a-budget"
    assert "top it up" not in render_results(question, hits) + hits[0].text
    assert search(question, 1, docs)[0].anchor == "raising-a-budget"  # get_index reads the file


def test_a_malformed_or_missing_file_is_ignored(docs: Path, tmp_path: Path) -> None:
    assert load_aliases(tmp_path) == {}
    _aliases(docs, "- just\n- a list\n")
    assert load_aliases(docs) == {}
    (docs / ALIASES_FILE).write_text("key: [unclosed\n")
    assert load_aliases(docs) == {}
    assert search("approve the call", 1, docs)[0].anchor == "approvals"


def test_the_meaning_of_a_phrasing_counts_for_its_section(docs: Path, tmp_path: Path) -> None:
    encoder = load_encoder()
    assert encoder is not None
    passages = load_passages(docs)
    phrasing = "what does the penguin eat in winter"
    aliases = [(phrasing,) if section_key(p) == "guide.md#restart" else () for p in passages]
    dense = DenseIndex(passages, encoder, VectorCache(tmp_path / "cache"), aliases)
    similarity = dense.similarities(phrasing)
    best = int(np.argmax(similarity))
    assert section_key(passages[best]) == "guide.md#restart"
    assert similarity[best] > 0.99


def test_a_table_row_is_a_chunk_of_its_own(docs: Path) -> None:
    sandbox = next(p for p in load_passages(docs) if p.anchor == "the-sandbox")
    assert "Operations: The sandbox\nbwrap fails — install it" in chunks(sandbox)


def test_fusion_adds_scores_scaled_to_their_best() -> None:
    # BM25 as a share of the best; the similarity from the floor (the 50th best or 0.15) up.
    # Section 2 shares no word with the question and is too far in meaning to count alone.
    similarity = np.array([0.65, 0.4, 0.15, 0.05], dtype=np.float32)
    fused = fuse([1, 0], {1: 8.0, 0: 2.0}, similarity)
    assert fused == pytest.approx({0: 1.0 + 0.25, 1: 0.5 + 1.0}, abs=1e-6)
    alone = fuse([], {}, similarity)
    assert alone == pytest.approx({0: 1.0, 1: 0.5}, abs=1e-6)
