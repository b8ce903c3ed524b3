"""Embeddings kept on disk by content hash, so the docs are encoded once, not per process.

One file per model (`<model>.npz` under `cache_dir()`): the SHA-256 of each encoded text and
its vector. A text whose hash is there is not encoded again; a changed section changes only
its own chunks' hashes. The file keeps the newest `MAX_ENTRIES` vectors (those just used
first) and is replaced atomically, so concurrent processes at worst encode twice.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import structlog

from cape.kb.minilm import HIDDEN, Vectors

log = structlog.get_logger(__name__)

MAX_ENTRIES = 5000  # about 7 MB; the repository's docs use a few hundred
CACHE_ENV = "CAPE_KB_CACHE_DIR"


def cache_dir() -> Path:
    """`$CAPE_KB_CACHE_DIR`, else `$XDG_CACHE_HOME/cape/kb`, else `~/.cache/cape/kb`."""
    if explicit := os.environ.get(CACHE_ENV):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cape" / "kb"


def text_key(model: str, text: str) -> str:
    """The cache key of `text` encoded by `model`."""
    return hashlib.sha256(f"{model}\0{text}".encode()).hexdigest()


class VectorCache:
    """The vectors of texts already encoded, read from and written to `folder`."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or cache_dir()

    def _file(self, model: str) -> Path:
        return self.folder / f"{model}.npz"

    def _read(self, model: str) -> dict[str, Vectors]:
        try:
            with np.load(self._file(model)) as data:
                keys, vectors = data["keys"], data["vectors"]
        except (OSError, ValueError, KeyError):  # none yet, or unreadable: start afresh
            return {}
        if vectors.ndim != 2 or vectors.shape[1] != HIDDEN or len(keys) != len(vectors):
            return {}
        return {str(k): v.astype(np.float32) for k, v in zip(keys, vectors, strict=True)}

    def _write(self, model: str, entries: dict[str, Vectors]) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".npz.tmp")
            with os.fdopen(fd, "wb") as out:
                np.savez(
                    out,
                    keys=np.array(list(entries)),
                    vectors=np.stack(list(entries.values())).astype(np.float32),
                )
            os.replace(tmp, self._file(model))
        except OSError as exc:  # a read-only home: the vectors stay in memory this time
            log.warning("cannot keep the docs vectors", folder=str(self.folder), error=str(exc))

    def get_or_encode(
        self, model: str, texts: list[str], encode: Callable[[list[str]], Vectors]
    ) -> Vectors:
        """The vectors of `texts` in order: cached ones read, the others encoded and stored."""
        if not texts:
            return np.zeros((0, HIDDEN), dtype=np.float32)
        keys = [text_key(model, t) for t in texts]
        stored = self._read(model)
        todo = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in stored}.items())
        if todo:
            log.info("encoding docs chunks", chunks=len(todo), cached=len(texts) - len(todo))
            fresh = encode([t for _, t in todo])
            new = {k: fresh[i] for i, (k, _) in enumerate(todo)}
            used = {k: new.get(k, stored.get(k)) for k in keys}
            rest = {k: v for k, v in stored.items() if k not in used}
            merged = {k: v for k, v in used.items() if v is not None} | rest
            self._write(model, dict(list(merged.items())[:MAX_ENTRIES]))
            stored |= new
        return np.stack([stored[k] for k in keys])
