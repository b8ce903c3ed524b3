"""Every tool CapeControl offers, by name.

The tool modules load on first use, not on import: they pull in WeasyPrint, matplotlib and
trafilatura, and the API imports this module through the workflow (which names its activity
classes) without ever running a tool. Workers load them when they build their activities.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from activities.tools.base import ToolError, ToolSpec

MODULES = (
    "files",
    "shell",
    "python",
    "web_search",
    "web_fetch",
    "research",
    "github",
    "email",
    "pdf",
    "docs_search",
    "events",
    "channels",
    "delegation",
)


@cache
def tools() -> dict[str, ToolSpec]:
    """Every tool by name, in the order the modules list them (loads the modules once)."""
    specs: dict[str, ToolSpec] = {}
    for name in MODULES:
        module = importlib.import_module(f"activities.tools.{name}")
        specs.update((spec.name, spec) for spec in module.TOOLS)
    return specs


def __getattr__(name: str) -> dict[str, ToolSpec]:
    # `TOOLS`, as before the modules loaded lazily.
    if name == "TOOLS":
        return tools()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_tool(name: str) -> ToolSpec:
    """The tool called `name`; a ToolError lists the known ones."""
    known = tools()
    try:
        return known[name]
    except KeyError:
        raise ToolError(f"unknown tool {name!r}; available: {', '.join(known)}") from None


def openai_tools(names: list[str]) -> list[dict[str, Any]]:
    """The chat-completions `tools` list for these tool names (unknown names are skipped)."""
    known = tools()
    return [known[n].openai_schema() for n in names if n in known]
