"""Every tool CapeControl offers, by name."""

from __future__ import annotations

from typing import Any

from activities.tools import (
    docs_search,
    email,
    files,
    github,
    pdf,
    python,
    shell,
    web_fetch,
    web_search,
)
from activities.tools.base import ToolError, ToolSpec

TOOLS: dict[str, ToolSpec] = {
    spec.name: spec
    for module in (files, shell, python, web_search, web_fetch, github, email, pdf, docs_search)
    for spec in module.TOOLS
}


def get_tool(name: str) -> ToolSpec:
    """The tool called `name`; a ToolError lists the known ones."""
    try:
        return TOOLS[name]
    except KeyError:
        raise ToolError(f"unknown tool {name!r}; available: {', '.join(TOOLS)}") from None


def openai_tools(names: list[str]) -> list[dict[str, Any]]:
    """The chat-completions `tools` list for these tool names (unknown names are skipped)."""
    return [TOOLS[n].openai_schema() for n in names if n in TOOLS]
