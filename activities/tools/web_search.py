"""The web_search tool: a DuckDuckGo (ddgs) or SearXNG query, rate-limited and cached per worker."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from ddgs import DDGS
from ddgs.exceptions import DDGSException

from activities.tools.base import Placement, Risk, ToolContext, ToolError, ToolOutput, ToolSpec
from activities.tools.ratelimit import SearchState
from cape.settings import Settings

log = structlog.get_logger(__name__)

DDGS_TIMEOUT = 5  # seconds per ddgs engine request
SEARCH_DEADLINE = 20.0  # whole search, whatever the backend
SNIPPET_CHARS = 400

_state = SearchState.create()


def search_state() -> SearchState:
    """This process's limiter and cache."""
    return _state


def reset_search_state(state: SearchState | None = None) -> SearchState:
    """Replace this process's limiter and cache (tests inject fake clocks this way)."""
    global _state
    _state = state or SearchState.create()
    return _state


@dataclass(frozen=True)
class Hit:
    """One search result."""

    title: str
    url: str
    snippet: str


def normalize(query: str) -> str:
    """The cache form of a query: case-folded, whitespace collapsed."""
    return " ".join(query.split()).casefold()


async def _searxng(settings: Settings, query: str, limit: int) -> list[Hit]:
    base = settings.searxng_url.rstrip("/")
    if not base:
        raise ToolError("web search is not configured: the operator has not set searxng_url")
    try:
        async with httpx.AsyncClient(timeout=settings.fetch_timeout_seconds) as client:
            response = await client.get(f"{base}/search", params={"q": query, "format": "json"})
    except httpx.TimeoutException:
        raise ToolError("web search failed: the SearXNG server timed out; retry later") from None
    except httpx.HTTPError as exc:
        raise ToolError(f"web search failed: cannot reach the SearXNG server ({exc})") from None
    if response.status_code != 200:
        raise ToolError(f"web search failed: SearXNG answered HTTP {response.status_code}")
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ToolError("web search failed: SearXNG returned invalid JSON") from None
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, list):
        raise ToolError("web search failed: SearXNG returned JSON without a results list")
    hits = []
    for item in results:
        if isinstance(item, dict) and isinstance(item.get("url"), str) and item["url"]:
            hits.append(
                Hit(str(item.get("title") or ""), item["url"], str(item.get("content") or ""))
            )
    return hits[:limit]


def _ddgs_sync(query: str, limit: int) -> list[Hit]:
    try:
        rows = DDGS(timeout=DDGS_TIMEOUT).text(query, max_results=limit)
    except DDGSException as exc:
        if str(exc) == "No results found.":  # ddgs reports an empty answer as an exception
            return []
        raise ToolError(f"web search failed (ddgs): {str(exc)[:300]}") from None
    except Exception as exc:  # ddgs wraps several HTTP stacks; none may crash the task
        raise ToolError(
            f"web search failed (ddgs): {type(exc).__name__}: {str(exc)[:300]}"
        ) from None
    return [
        Hit(str(r.get("title") or ""), str(r["href"]), str(r.get("body") or ""))
        for r in rows
        if r.get("href")
    ][:limit]


async def search(settings: Settings, query: str, limit: int) -> list[Hit]:
    """Ask the configured backend; any backend failure becomes a ToolError."""
    try:
        async with asyncio.timeout(SEARCH_DEADLINE):
            if settings.search_backend == "searxng":
                return await _searxng(settings, query, limit)
            # ddgs is synchronous; on timeout its thread finishes in the background.
            return await asyncio.to_thread(_ddgs_sync, query, limit)
    except TimeoutError:
        raise ToolError(f"web search timed out after {SEARCH_DEADLINE:g} s; retry later") from None


def render(query: str, hits: list[Hit]) -> str:
    """The numbered list the model reads."""
    if not hits:
        return f"No results for {query!r}. Try other words."
    lines = [f"Results for {query!r}:"]
    for n, hit in enumerate(hits, 1):
        snippet = " ".join(hit.snippet.split())
        if len(snippet) > SNIPPET_CHARS:
            snippet = snippet[: SNIPPET_CHARS - 1] + "…"
        lines.append(f"{n}. {hit.title or '(no title)'}\n   {hit.url}")
        if snippet:
            lines.append(f"   {snippet}")
    return "\n".join(lines)


async def cached_search(settings: Settings, query: str, limit: int) -> tuple[list[Hit], bool]:
    """The hits for `query` and whether they came from the cache; fresh ones wait their turn."""
    backend = settings.search_backend
    where = settings.searxng_url if backend == "searxng" else ""
    key = (backend, where, normalize(query), limit)
    state = _state
    hits: list[Hit] | None = None
    if settings.search_cache_seconds > 0:
        hits = state.cache.get(key, settings.search_cache_seconds)
    if hits is not None:
        return hits, True
    await state.limiter.acquire(settings.search_per_minute, "web search")
    hits = await search(settings, query, limit)
    if settings.search_cache_seconds > 0:
        state.cache.put(key, hits)
    return hits, False


async def web_search(ctx: ToolContext, args: dict[str, Any]) -> ToolOutput:
    """Search the web; cached hits skip the rate limit."""
    if ctx.limits.get("network_allow") is not None:
        # The search engine is a destination too; an installed agent names its own.
        raise ToolError("refused: web_search is not a destination this agent's package declared")
    settings = ctx.settings
    query = " ".join(str(args["query"]).split())
    if not query:
        raise ToolError("query must contain words")
    limit = int(args.get("max_results", 5))
    backend = settings.search_backend
    hits, cached = await cached_search(settings, query, limit)
    log.info("web search", backend=backend, results=len(hits), cached=cached)
    record = {
        "query": query,
        "backend": backend,
        "results": [{"title": h.title, "url": h.url} for h in hits],
        "cached": cached,
    }
    return ToolOutput(content=render(query, hits), records=[("web-search", record)])


TOOLS: list[ToolSpec] = [
    ToolSpec(
        name="web_search",
        description=(
            "Search the web. Returns a numbered list of results (title, URL, snippet); "
            "read a page with web_fetch."
        ),
        parameters={
            "type": "object",
            "properties": {
                "query": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 400,
                    "description": "What to search for, as you would type it in a search box.",
                },
                "max_results": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 20,
                    "default": 5,
                    "description": "How many results to return (1-20, default 5).",
                },
            },
            "required": ["query"],
            "additionalProperties": False,
        },
        risk=Risk.NETWORK,
        placement=Placement.PLATFORM,
        handler=web_search,
    )
]
