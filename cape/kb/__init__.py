"""The docs knowledge base: doc passages, their ranking and retrieval-only answers.

Sections are ranked by BM25 fused with a sentence-embedding model (`cape.kb.hybrid`).

`search(query, top_k)` ranks the sections of `docs/*.md`; `retrieval_answer(...)` builds the
guide's answer from them when no language model is configured.
"""

from cape.kb.answer import FORMATS, NOTE, retrieval_answer
from cape.kb.bm25 import Bm25Index, default_docs_dir
from cape.kb.hybrid import HybridIndex, get_index, search
from cape.kb.passages import (
    RESULTS_INTRO,
    RESULTS_SEPARATOR,
    Passage,
    load_passages,
    render_results,
    slugify,
    split_markdown,
)

__all__ = [
    "FORMATS",
    "NOTE",
    "RESULTS_INTRO",
    "RESULTS_SEPARATOR",
    "Bm25Index",
    "HybridIndex",
    "Passage",
    "default_docs_dir",
    "get_index",
    "load_passages",
    "render_results",
    "retrieval_answer",
    "search",
    "slugify",
    "split_markdown",
]
