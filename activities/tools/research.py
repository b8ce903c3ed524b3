"""The research tool: search, read the best results, keep what bears on the question, cite it.

One call searches with the `web_search` backend (its rate limit and cache), reads the results
in rank order through `web_fetch` (every hop vetted by `netguard`, as a fetch by the model),
extracts each page's main text, keeps the paragraphs that answer the question without repeats
(`research_notes`) and returns numbered notes. The bibliography is stored as two artifacts,
Markdown and CSL-JSON, numbered as the notes, and each source is a `citation` event.
Limits: pages (`max_sources`, at most `CAPE_RESEARCH_MAX_PAGES`), bytes read
(`CAPE_RESEARCH_MAX_BYTES`) and time (`CAPE_RESEARCH_TIMEOUT_SECONDS`); the notes say which one
stopped the reading.
"""

from __future__ import annotations

import uuid
from typing import Any

import structlog

from activities.tools import bibliography
from activities.tools.base import Placement, Risk, ToolContext, ToolError, ToolOutput, ToolSpec
from activities.tools.research_notes import select
from activities.tools.research_read import Reading, read_pages
from activities.tools.web_fetch import refuse_open_web
from activities.tools.web_search import cached_search

log = structlog.get_logger(__name__)

DEFAULT_SOURCES = 3
MAX_SOURCES = 10
MD_TYPE = "text/markdown"
CSL_TYPE = "application/vnd.citationstyles.csl+json"


def artifact_id(task_id: str, step_no: int, kind: str) -> str:
    """A bibliography artifact's id: the same for every retry of the step."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"cape:{task_id}:{step_no}:research-{kind}").hex


def render(question: str, reading: Reading, found: int, repeats: int, ids: list[str]) -> str:
    """The notes the model reads: numbered sources and passages, what was not read, limits."""
    lines = [
        f"Research notes on {question!r}: {len(reading.sources)} source(s) read of {found} "
        "search result(s). Cite a source by its number, e.g. [1], and name the bibliography.",
    ]
    for n, source in enumerate(reading.sources, 1):
        part = " (read in part: cut at the byte limit)" if source.cut else ""
        lines += ["", f"[{n}] {source.title or '(no title)'}", f"    {source.url}{part}"]
        lines += [f"    - {passage}" for passage in source.passages]
    if reading.skipped:
        lines += ["", "Not read:"]
        lines += [f"- {url}: {reason}" for url, reason in reading.skipped]
    if reading.stopped:
        lines += ["", f"Stopped reading: {reading.stopped}"]
    if repeats:
        lines += ["", f"Left out {repeats} passage(s) repeating one above."]
    md, csl = ids
    lines += [
        "",
        f"Bibliography: artifact {md} (bibliography.md, Markdown) and artifact {csl} "
        "(bibliography.json, CSL-JSON); [n] above is entry ref<n> there.",
    ]
    return "\n".join(lines)


async def research(ctx: ToolContext, args: dict[str, Any]) -> ToolOutput:
    """Search, read, extract, de-duplicate; store the bibliography; return cited notes."""
    refuse_open_web(ctx, "research")
    settings = ctx.settings
    question = " ".join(str(args["query"]).split())
    if not question:
        raise ToolError("query must contain words")
    asked = int(args.get("max_sources", DEFAULT_SOURCES))
    pages = min(asked, settings.research_max_pages)
    if asked > settings.research_max_pages:
        limit = f"{pages}, CAPE_RESEARCH_MAX_PAGES"
    else:
        limit = f"{pages}, max_sources" + ("" if "max_sources" in args else " by default")
    hits, cached = await cached_search(settings, question, min(2 * pages + 2, 20))
    if not hits:
        return ToolOutput(
            content=f"No search results for {question!r}; nothing to read. Try other words.",
            records=[("research", {"query": question, "results": 0, "sources": []})],
        )
    reading = await read_pages(hits, pages, settings, limit)
    if not reading.sources:
        why = "; ".join(f"{url}: {reason}" for url, reason in reading.skipped[:8])
        raise ToolError(f"research read no page for {question!r}: {reading.stopped or why}")
    repeats = select(question, reading.sources)
    ids = [artifact_id(ctx.task_id, ctx.step_no, kind) for kind in ("md", "csl")]
    md = bibliography.markdown(question, reading.sources).encode()
    csl = bibliography.csl_json(reading.sources).encode()
    files = (("bibliography.md", md, MD_TYPE), ("bibliography.json", csl, CSL_TYPE))
    for (name, data, media), aid in zip(files, ids, strict=True):
        await ctx.artifacts.put(
            ctx.task_id, name, data, media, step_no=ctx.step_no, artifact_id=aid
        )
    citations = [("citation", s.citation(n)) for n, s in enumerate(reading.sources, 1)]
    record = {
        "query": question,
        "results": len(hits),
        "cached": cached,
        "sources": [{"number": n, "url": s.url} for n, s in enumerate(reading.sources, 1)],
        "skipped": [{"url": url, "reason": reason} for url, reason in reading.skipped],
        "stopped": reading.stopped,
        "repeats": repeats,
        "bytes": reading.bytes_read,
        "bibliography": {"markdown": ids[0], "csl_json": ids[1]},
    }
    log.info("research", sources=len(reading.sources), skipped=len(reading.skipped))
    content = render(question, reading, len(hits), repeats, ids)
    return ToolOutput(content=content, records=[*citations, ("research", record)], artifacts=ids)


TOOLS: list[ToolSpec] = [
    ToolSpec(
        name="research",
        description=(
            "Research a question on the web: searches, reads the best results, and returns "
            "the relevant passages as notes with numbered sources [1], [2]... Stores a "
            "bibliography (Markdown and CSL-JSON) as artifacts. Cite the numbers in your answer."
        ),
        parameters={
            "type": "object",
            "properties": {
                "query": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 400,
                    "description": "The question or topic, as you would type it in a search box.",
                },
                "max_sources": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_SOURCES,
                    "default": DEFAULT_SOURCES,
                    "description": "How many pages to read (1-10, default 3; the operator's "
                    "CAPE_RESEARCH_MAX_PAGES caps it).",
                },
            },
            "required": ["query"],
            "additionalProperties": False,
        },
        risk=Risk.NETWORK,
        placement=Placement.PLATFORM,
        handler=research,
    )
]
