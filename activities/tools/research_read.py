"""Reading a research call's search results within its limits: pages, bytes and time.

Results are read one after another in rank order, each through `web_fetch.fetch` (the SSRF
guard checks every hop). A result that cannot be read (refused address, HTTP error, not text,
no readable text, the same text as a page already read) is skipped with its reason and the
next one is tried. Reading stops when enough pages are read, when the byte budget is spent or
when the time is up; `stopped` says which, in words the model can pass on.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field

import httpx

from activities.tools.base import ToolError
from activities.tools.research_notes import Source
from activities.tools.web_fetch import decode, extract_document, fetch, kind_of
from activities.tools.web_search import Hit
from cape.settings import Settings

MIN_READ = 256  # bytes; less than this left of the budget is not worth a request


@dataclass
class Reading:
    """What a research call read and what it did not."""

    sources: list[Source] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (url, why)
    stopped: str = ""  # the limit that ended the reading, if one did
    bytes_read: int = 0


def _key(url: str) -> str:
    """A URL without its fragment: `page#a` and `page#b` are one page."""
    try:
        return str(httpx.URL(url).copy_with(fragment=None))
    except (httpx.InvalidURL, TypeError):
        return url


async def _source(hit: Hit, settings: Settings, budget: int) -> tuple[Source, int, bool]:
    """The page of `hit` as a source, the bytes it took and whether it was cut at `budget`."""
    limited = settings.model_copy(update={"fetch_max_bytes": budget})
    page = await fetch(hit.url, limited)
    kind = kind_of(page.media_type, page.body)
    if kind is None:
        raise ToolError(f"not text ({page.media_type or 'unknown type'})")
    markup = decode(page.body, page.charset)
    source = Source(page.url, hit.title, markup, page.retrieved_at, status=page.status)
    source.media_type = page.media_type
    if kind == "html":
        doc = await asyncio.to_thread(extract_document, markup, page.url)
        source.title, source.text = doc.title or hit.title, doc.text
        source.author, source.date, source.sitename = doc.author, doc.date, doc.sitename
    return source, len(page.body), page.cut


async def read_pages(hits: list[Hit], pages: int, settings: Settings, limit: str) -> Reading:
    """Read up to `pages` of `hits` within the byte and time limits of `settings`.

    `limit` names the page limit in the notes ("3, max_sources").
    """
    reading = Reading()
    seen_urls: set[str] = set()
    seen_texts: dict[str, int] = {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.research_timeout_seconds
    max_page = settings.fetch_max_bytes
    for hit in hits:
        if _key(hit.url) in seen_urls:
            continue
        seen_urls.add(_key(hit.url))
        if len(reading.sources) >= pages:
            reading.stopped = f"the page limit ({limit}) was reached"
            break
        budget = settings.research_max_bytes - reading.bytes_read
        if budget < MIN_READ:
            reading.stopped = (
                f"the byte limit (CAPE_RESEARCH_MAX_BYTES, {settings.research_max_bytes} "
                "bytes) is spent"
            )
            break
        left = deadline - loop.time()
        try:
            async with asyncio.timeout(left):
                source, size, cut = await _source(hit, settings, min(budget, max_page))
        except TimeoutError:
            reading.skipped.append((hit.url, "not read in time"))
            reading.stopped = (
                "the time limit (CAPE_RESEARCH_TIMEOUT_SECONDS, "
                f"{settings.research_timeout_seconds:g} s) ran out"
            )
            break
        except ToolError as exc:
            reading.skipped.append((hit.url, str(exc)))
            continue
        reading.bytes_read += size
        digest = hashlib.sha256(" ".join(source.text.split()).encode()).hexdigest()
        if not source.text.strip():
            reading.skipped.append((hit.url, "no readable text"))
        elif digest in seen_texts:
            reading.skipped.append((hit.url, f"the same text as [{seen_texts[digest]}]"))
        else:
            source.cut = cut
            reading.sources.append(source)
            seen_texts[digest] = len(reading.sources)
    return reading
