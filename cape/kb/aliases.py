"""How users ask about each docs section: hidden phrasings indexed with the section.

Users name the product's concepts in everyday words the answering section never uses ("my key
leaked" and the key routes). `docs/.guide/aliases.yaml` lists, for each section, a few ways
users ask about it (written from the section's content, "doc2query" by hand). The search
indexes them with their section, their words for BM25 and their meaning for the embedding
model, but never shows them: results quote the docs alone.
"""

from __future__ import annotations

from pathlib import Path

import structlog
import yaml

from cape.kb.passages import Passage

log = structlog.get_logger(__name__)

ALIASES_FILE = Path(".guide") / "aliases.yaml"
MAX_ALIAS_CHARS = 300


def section_key(passage: Passage) -> str:
    """`<file>#<anchor>`, as the aliases file names sections (README.md for the README)."""
    return f"{passage.doc}#{passage.anchor}"


def load_aliases(docs_dir: Path) -> dict[str, tuple[str, ...]]:
    """The phrasings of each section in `docs_dir/.guide/aliases.yaml`; none if it is absent.

    A malformed file is logged and ignored: the search still works on the docs alone.
    """
    path = docs_dir / ALIASES_FILE
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        log.warning("docs aliases unreadable: ignored", path=str(path), error=str(exc))
        return {}
    if not isinstance(data, dict):
        log.warning("docs aliases not a mapping: ignored", path=str(path))
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for key, phrases in data.items():
        if isinstance(phrases, list):
            out[str(key)] = tuple(str(p)[:MAX_ALIAS_CHARS] for p in phrases if str(p).strip())
    return out


def aliases_of(
    passages: list[Passage], aliases: dict[str, tuple[str, ...]]
) -> list[tuple[str, ...]]:
    """Each passage's phrasings, in the passages' order (none for a section not listed)."""
    return [aliases.get(section_key(p), ()) for p in passages]
