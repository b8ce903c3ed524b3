"""The web_fetch tool: read one public web page as text, with a citation kept on the task.

Every hop (the URL and each redirect) is resolved and checked by `netguard`, then requested from
the checked address itself, so DNS rebinding cannot slip a private address in between.
"""

from __future__ import annotations

import asyncio
import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog
import trafilatura
from trafilatura.settings import Document

from activities.tools import netguard
from activities.tools.base import Placement, Risk, ToolContext, ToolError, ToolOutput, ToolSpec
from cape.settings import Settings

log = structlog.get_logger(__name__)

MAX_REDIRECTS = 5
REDIRECTS = {301, 302, 303, 307, 308}
USER_AGENT = "CapeControl-web_fetch/1.0"
ACCEPT = "text/html,application/xhtml+xml,text/plain;q=0.9,application/json;q=0.9,*/*;q=0.1"
HTML_TYPES = {"text/html", "application/xhtml+xml"}
TEXT_TYPES = {"application/json", "application/xml", "application/javascript"}


@dataclass
class Page:
    """A fetched response body, possibly cut at the byte limit."""

    url: str
    status: int
    media_type: str
    charset: str | None
    body: bytes
    cut: bool
    retrieved_at: str


def kind_of(media_type: str, body: bytes) -> str | None:
    """'html', 'text' or None (unsupported) for a media type; sniff when the server sent none."""
    if media_type in HTML_TYPES:
        return "html"
    if media_type.startswith("text/") or media_type in TEXT_TYPES:
        return "text"
    if media_type.endswith(("+json", "+xml")):
        return "text"
    if media_type in ("", "application/octet-stream") and _looks_textual(body):
        head = body[:1024].lstrip().lower()
        return "html" if head.startswith((b"<!doctype html", b"<html")) else "text"
    return None


def _looks_textual(body: bytes) -> bool:
    """Whether an untyped body reads as UTF-8 text (PDFs and images do not)."""
    head = body[:4096]
    if b"\0" in head:
        return False
    # A multi-byte character may straddle the cut; drop up to 3 trailing bytes.
    return any(_utf8(head[: len(head) - n]) for n in range(min(4, len(head) + 1)))


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


async def _read(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """The decoded body up to `limit` bytes, and whether it was cut there."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        if size + len(chunk) > limit:
            chunks.append(chunk[: limit - size])
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), False


async def _hop(
    url: httpx.URL, addresses: list[netguard.Address], settings: Settings
) -> Page | httpx.URL:
    """One request to the first reachable vetted address: the page, or the redirect target."""
    error: Exception | None = None
    for ip in addresses:
        target, headers, extensions = netguard.pin(url, ip)
        # A fresh client per hop: a pooled TLS connection must not serve another host name.
        async with httpx.AsyncClient(
            trust_env=False,
            timeout=settings.fetch_timeout_seconds,
            headers={"User-Agent": USER_AGENT, "Accept": ACCEPT},
        ) as client:
            request = client.build_request("GET", target, headers=headers, extensions=extensions)
            try:
                response = await client.send(request, stream=True)
            except httpx.ConnectError as exc:
                error = exc
                continue
            try:
                return await _answer(url, response, settings)
            finally:
                await response.aclose()
    raise ToolError(f"cannot connect to {url.host}: {error}")


async def _answer(url: httpx.URL, response: httpx.Response, settings: Settings) -> Page | httpx.URL:
    status = response.status_code
    if status in REDIRECTS:
        location = response.headers.get("location")
        if not location:
            raise ToolError(f"{url} answered HTTP {status} without a Location header")
        try:
            return url.join(location)
        except httpx.InvalidURL:
            raise ToolError(f"{url} redirected to an invalid URL {location[:200]!r}") from None
    if status >= 400:
        raise ToolError(f"{url} answered HTTP {status} {response.reason_phrase}".rstrip())
    media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type and kind_of(media_type, b"") is None:
        raise ToolError(
            f"{url} is {media_type}, which web_fetch does not support "
            "(it reads HTML, plain text and JSON)"
        )
    retrieved_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body, cut = await _read(response, settings.fetch_max_bytes)
    charset = response.charset_encoding
    return Page(str(url), status, media_type, charset, body, cut, retrieved_at)


def _check_scheme(url: httpx.URL, what: str) -> None:
    if url.userinfo:
        # Credentials would end up in the output, the citation and the logs.
        raise ToolError(f"{what} refused: URLs with a user name or password are not supported")
    if url.scheme not in ("http", "https") or not url.host:
        raise ToolError(f"{what} {url} refused: only http:// and https:// URLs with a host")


async def fetch(raw_url: str, settings: Settings, allow_hosts: list[str] | None = None) -> Page:
    """Fetch `raw_url`, following up to MAX_REDIRECTS redirects, each checked by the policy.

    `allow_hosts` (the agent's `sandbox_limits.network_allow`) limits every hop to those hosts.

    Raises:
        ToolError: Bad or refused URL, too many redirects, HTTP error, unsupported type, timeout.
    """
    policy = netguard.Policy(
        settings.fetch_allow_private,
        tuple(netguard.parse_networks(settings.fetch_allow_networks)),
        None if allow_hosts is None else tuple(allow_hosts),
    )
    try:
        url = httpx.URL(raw_url.strip())
    except httpx.InvalidURL as exc:
        raise ToolError(f"invalid URL: {exc}") from None
    _check_scheme(url, "URL")
    try:
        async with asyncio.timeout(settings.fetch_timeout_seconds):
            for hop in range(MAX_REDIRECTS + 1):
                try:
                    addresses = await netguard.vet(url, policy)
                except ToolError as exc:
                    raise ToolError(f"redirect to {url} {exc}" if hop else str(exc)) from None
                result = await _hop(url, addresses, settings)
                if isinstance(result, Page):
                    return result
                url = result
                _check_scheme(url, "redirect to")
    except TimeoutError:
        raise ToolError(
            f"fetching {raw_url} timed out after {settings.fetch_timeout_seconds:g} s"
        ) from None
    except httpx.TimeoutException:
        raise ToolError(f"fetching {url} timed out") from None
    except httpx.HTTPError as exc:
        raise ToolError(f"fetching {url} failed: {type(exc).__name__}: {exc}") from None
    raise ToolError(f"too many redirects (more than {MAX_REDIRECTS}) starting at {raw_url}")


def decode(body: bytes, charset: str | None) -> str:
    """Text of a body: the declared charset, else UTF-8, else Windows-1252 (never fails)."""
    if charset:
        try:
            return body.decode(charset, errors="replace")
        except LookupError:
            pass
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("cp1252", errors="replace")


_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)
_DROP = re.compile(r"<(script|style|noscript|template|title)\b.*?</\1\s*>|<!--.*?-->", re.I | re.S)
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class Extracted:
    """The readable part of an HTML page and what it says about itself."""

    title: str
    text: str
    author: str = ""
    date: str = ""  # as the page gives it, usually YYYY-MM-DD
    sitename: str = ""


def extract_document(markup: str, url: str) -> Extracted:
    """Main text and metadata of an HTML page: trafilatura, else a crude tag strip."""
    title, text = "", ""
    author = date = sitename = ""
    # No date guessed from a copyright line or the URL: only what the page declares.
    doc = trafilatura.bare_extraction(
        markup, url=url, with_metadata=True, date_extraction_params={"extensive_search": False}
    )
    if isinstance(doc, Document):
        title, text = doc.title or "", doc.text or ""
        author, date, sitename = doc.author or "", doc.date or "", doc.sitename or ""
    if not title and (match := _TITLE.search(markup)):
        title = html.unescape(_TAG.sub("", match.group(1)))
    if not text.strip():
        stripped = html.unescape(_TAG.sub(" ", _DROP.sub(" ", markup)))
        lines = (" ".join(line.split()) for line in stripped.splitlines())
        text = "\n".join(line for line in lines if line)
    return Extracted(" ".join(title.split()), text.strip(), author, date, sitename)


def extract_html(markup: str, url: str) -> tuple[str, str]:
    """(title, main text) of an HTML page."""
    doc = extract_document(markup, url)
    return doc.title, doc.text


def clip(text: str, max_chars: int) -> str:
    """Head and tail of `text` within `max_chars`, with a marker saying what was left out."""
    if len(text) <= max_chars:
        return text
    marker = f"\n[... {len(text) - max_chars} characters omitted ...]\n"
    room = max(max_chars - len(marker), 0)
    head = room * 3 // 4
    return text[:head] + marker + text[len(text) - (room - head) :]


def destinations(ctx: ToolContext) -> list[str] | None:
    """The hosts the agent may reach (its spec's `sandbox_limits.network_allow`), or None."""
    allowed = ctx.limits.get("network_allow")
    return None if allowed is None else [str(host) for host in allowed]


def refuse_open_web(ctx: ToolContext, tool: str) -> None:
    """Refuse a tool that reaches hosts nobody named when the agent has an allow-list."""
    if destinations(ctx) is not None:
        raise ToolError(
            f"refused: {tool} reaches hosts its results name, and this agent may only reach "
            "its package's declared destinations; use web_fetch on one of them"
        )


async def web_fetch(ctx: ToolContext, args: dict[str, Any]) -> ToolOutput:
    """Fetch a page and return its main text; record a citation on the task."""
    settings = ctx.settings
    max_chars = int(args.get("max_chars") or settings.tool_output_chars)
    page = await fetch(str(args["url"]), settings, destinations(ctx))
    kind = kind_of(page.media_type, page.body)
    if kind is None:
        raise ToolError(f"{page.url} is not text; web_fetch reads HTML, plain text and JSON")
    markup = decode(page.body, page.charset)
    if kind == "html":
        title, text = await asyncio.to_thread(extract_html, markup, page.url)
    else:
        title, text = "", markup
    log.info("web fetch", status=page.status, media_type=page.media_type, cut=page.cut)
    lines = [f"Title: {title or '(none)'}", f"URL: {page.url}", f"Retrieved: {page.retrieved_at}"]
    if page.cut:
        lines.append(f"[The page was cut at {settings.fetch_max_bytes} bytes; text is incomplete.]")
    body = clip(text, max_chars) if text else "(the page has no readable text)"
    citation = {
        "url": page.url,
        "title": title,
        "retrieved_at": page.retrieved_at,
        "status": page.status,
        "media_type": page.media_type or "unknown",
    }
    return ToolOutput(content="\n".join(lines) + "\n\n" + body, records=[("citation", citation)])


TOOLS: list[ToolSpec] = [
    ToolSpec(
        name="web_fetch",
        description=(
            "Fetch a public web page (HTML, plain text or JSON) and return its main text, title "
            "and URL. Private and internal addresses are refused; PDFs and images are not read."
        ),
        parameters={
            "type": "object",
            "properties": {
                "url": {
                    "type": "string",
                    "minLength": 8,
                    "maxLength": 4096,
                    "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://",
                    "description": "The http:// or https:// URL to read.",
                },
                "max_chars": {
                    "type": "integer",
                    "minimum": 256,
                    "maximum": 200000,
                    "description": "Most characters of page text to return (head and tail are "
                    "kept when longer); defaults to the operator's tool output size.",
                },
            },
            "required": ["url"],
            "additionalProperties": False,
        },
        risk=Risk.NETWORK,
        placement=Placement.PLATFORM,
        handler=web_fetch,
    )
]
