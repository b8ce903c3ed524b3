"""docs_search: the platform tool that hands the model documentation sections to cite."""

# ruff: noqa: RUF001  (titles are joined by U+203A; the tests compare them verbatim)

from __future__ import annotations

import pytest

from activities.tools import docs_search
from activities.tools.base import Placement, Risk, ToolError
from activities.tools.registry import TOOLS, get_tool, openai_tools
from cape.kb import passages
from cape.tool_names import TOOL_NAMES
from tests.tools.conftest import ToolRig

SPEC = docs_search.TOOLS[0]


def test_registered_as_a_read_only_platform_tool() -> None:
    assert get_tool("docs_search") is SPEC
    assert "docs_search" in TOOLS and "docs_search" in TOOL_NAMES
    assert SPEC.risk == Risk.READ
    assert SPEC.placement == Placement.PLATFORM
    [schema] = openai_tools(["docs_search"])
    assert schema["function"]["parameters"]["required"] == ["query"]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({}, "arguments"),
        ({"query": ""}, "query"),
        ({"query": "x", "top_k": 11}, "top_k"),
        ({"query": "x", "limit": 3}, "arguments"),
    ],
)
def test_bad_arguments_name_the_field(args: dict[str, object], field: str) -> None:
    with pytest.raises(ToolError, match=f"invalid arguments: {field}"):
        SPEC.validate(args)


async def test_returns_titles_paths_and_text(rig: ToolRig) -> None:
    args = SPEC.validate({"query": "how do I approve a tool call", "top_k": 3})
    out = await SPEC.handler(rig.context(), args)
    assert out.content.startswith("Documentation sections for 'how do I approve a tool call'")
    first = out.content.split("---")[1]
    assert "› Approvals\npath: docs/" in first
    assert "#approvals" in first
    [(kind, record)] = out.records
    assert kind == "docs-search"
    assert record["query"] == "how do I approve a tool call"
    assert len(record["results"]) == 3
    assert record["results"][0]["path"].endswith("#approvals")
    assert record["results"][0]["score"] >= record["results"][1]["score"] > 0
    assert out.artifacts == [] and out.isolation is None


async def test_no_match_and_blank_queries(rig: ToolRig) -> None:
    out = await SPEC.handler(rig.context(), {"query": "zebra giraffe"})
    assert out.content == "No documentation section matches 'zebra giraffe'. Try other words."
    assert out.records[0][1]["results"] == []
    with pytest.raises(ToolError, match="query must contain words"):
        await SPEC.handler(rig.context(), {"query": "   "})


async def test_long_sections_are_cut(rig: ToolRig) -> None:
    out = await SPEC.handler(rig.context(), {"query": "spec format release notes", "top_k": 1})
    body = out.content.split("---")[1]
    assert len(body) < passages.EXCERPT_CHARS + 200
    assert body.rstrip().endswith("[...]")
