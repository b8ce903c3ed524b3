"""Links into the docs stay valid: the docs' own links and the paths the built-in agents cite."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cape.kb import default_docs_dir
from cape.kb.passages import heading_anchors

DOCS = default_docs_dir()
BUILTIN = DOCS.parent / "cape" / "registry" / "builtin"
ANCHORS = {f.name: heading_anchors(f.read_text()) for f in DOCS.glob("*.md")}


def test_anchors_of_every_level_and_repeats() -> None:
    text = "# T\n\n## A\n\n```\n# code\n```\n\n#### Deep `x`\n\n## A\n"
    assert heading_anchors(text) == {"t", "a", "a-1", "deep-x"}


@pytest.mark.parametrize("doc", sorted(ANCHORS))
def test_links_between_docs_resolve(doc: str) -> None:
    for target in re.findall(r"\]\(([^)\s]+)\)", (DOCS / doc).read_text()):
        if target.startswith(("http://", "https://")):
            continue
        file, _, anchor = target.partition("#")
        file = file or doc
        assert file in ANCHORS, f"{doc}: link to a missing file {target}"
        assert not anchor or anchor in ANCHORS[file], f"{doc}: no heading for {target}"


@pytest.mark.parametrize("spec", sorted(p.name for p in BUILTIN.glob("*.yaml")))
def test_doc_paths_in_builtin_agents_resolve(spec: str) -> None:
    text = (BUILTIN / spec).read_text()
    # Placeholders such as docs/<file>.md#<anchor> in a prompt do not match.
    for file, anchor in re.findall(r"docs/([\w.-]+\.md)#([^\"'\s),]+)", text):
        assert anchor in ANCHORS.get(file, set()), f"{spec}: docs/{file}#{anchor}"


def test_the_docs_dir_is_the_repositorys() -> None:
    assert Path(__file__).resolve().parents[2] / "docs" == DOCS
    assert {"getting-started.md", "concepts.md", "api.md", "agents.md"} <= set(ANCHORS)
