"""The docs_search tool: the CapeControl documentation sections that best match a query."""

from __future__ import annotations

import asyncio
from typing import Any

from activities.tools.base import Placement, Risk, ToolContext, ToolError, ToolOutput, ToolSpec
from cape.kb import render_results, search

DEFAULT_TOP_K = 5


async def docs_search(ctx: ToolContext, args: dict[str, Any]) -> ToolOutput:
    """Search the docs; the index is built on the first call of the worker process."""
    query = " ".join(str(args["query"]).split())
    if not query:
        raise ToolError("query must contain words")
    top_k = int(args.get("top_k", DEFAULT_TOP_K))
    # Building the index reads every doc file (and encodes changed ones): off the event loop.
    passages = await asyncio.to_thread(search, query, top_k, ctx.settings.docs_dir)
    record = {
        "query": query,
        "results": [{"title": p.title, "path": p.path, "score": p.score} for p in passages],
    }
    return ToolOutput(content=render_results(query, passages), records=[("docs-search", record)])


TOOLS: list[ToolSpec] = [
    ToolSpec(
        name="docs_search",
        description=(
            "Search the CapeControl documentation. Returns the best matching sections, each "
            "with its title, its path (docs/<file>.md#<anchor>, to cite) and its text."
        ),
        parameters={
            "type": "object",
            "properties": {
                "query": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 400,
                    "description": "Keywords or a question, e.g. 'approve a tool call'.",
                },
                "top_k": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 10,
                    "default": DEFAULT_TOP_K,
                    "description": "How many sections to return (1-10, default 5).",
                },
            },
            "required": ["query"],
            "additionalProperties": False,
        },
        risk=Risk.READ,
        placement=Placement.PLATFORM,
        handler=docs_search,
    )
]
