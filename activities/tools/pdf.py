"""The `create_pdf` tool: Markdown, HTML or a Jinja2 template (plus charts) to a PDF file.

WeasyPrint renders with a URL fetcher that serves only `data:` URIs, the generated charts and
files inside the workspace, so a document cannot make the worker fetch remote URLs or read
host files.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import re
import threading
import uuid
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import markdown
import structlog
from weasyprint import CSS, HTML  # type: ignore[import-untyped]
from weasyprint.urls import URLFetcher, URLFetcherResponse  # type: ignore[import-untyped]

from activities.tools.base import Placement, Risk, ToolContext, ToolError, ToolOutput, ToolSpec
from activities.tools.confine import Limits, check_writable, locate
from activities.tools.pdf_charts import CHART_SCHEMA, MAX_CHARTS, check_charts, render_charts
from activities.tools.templates import read_workspace_text, render_template
from activities.tools.workspace_io import read_bytes, write_bytes

log = structlog.get_logger(__name__)

MAX_SOURCE_BYTES = 2 * 1024 * 1024
MAX_RESOURCE_BYTES = 20 * 1024 * 1024
SOURCES = ("markdown", "html", "template", "source_file")
_CHART_REF = re.compile(
    r"""(?:src|href|data)\s*=\s*["']?chart:([\w-]+)|url\(\s*["']?chart:([\w-]+)"""
)
# Pango and fontconfig are not safe to drive from several threads at once.
_render_lock = threading.Lock()

DEFAULT_CSS = """
@page { size: A4; margin: 20mm 18mm 22mm;
  @bottom-center { content: counter(page) " / " counter(pages); font-size: 8.5pt; color: #777; } }
html { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; font-size: 10.5pt;
  line-height: 1.45; color: #222; }
h1, h2, h3, h4 { line-height: 1.2; margin: 1.1em 0 0.45em; break-after: avoid; }
h1 { font-size: 21pt; } h3 { font-size: 12.5pt; }
h2 { font-size: 15pt; border-bottom: 1px solid #ddd; padding-bottom: 2pt; }
table { border-collapse: collapse; width: 100%; margin: 0.8em 0; }
th, td { border: 1px solid #b8b8b8; padding: 3pt 6pt; text-align: left; vertical-align: top; }
th { background: #eef1f4; } tr { break-inside: avoid; } thead { display: table-header-group; }
img { max-width: 100%; } figure { margin: 0.8em 0; break-inside: avoid; }
pre, code { font-family: "DejaVu Sans Mono", monospace; font-size: 9pt; }
pre { background: #f6f7f8; border: 1px solid #e1e4e8; padding: 6pt; white-space: pre-wrap; }
blockquote { margin-left: 0; padding-left: 10pt; border-left: 3px solid #ccc; color: #555; }
a { color: #1a5fb4; }
"""

PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "output": {
            "type": "string",
            "pattern": r"\.[pP][dD][fF]$",
            "description": "Workspace-relative path of the PDF; a bare name goes to `output/`.",
        },
        "markdown": {"type": "string", "description": "The document as Markdown (with tables)."},
        "html": {"type": "string", "description": "The document as HTML (fragment or page)."},
        "template": {
            "type": "string",
            "description": "A Jinja2 template producing HTML, rendered with `variables` "
            "(values are HTML-escaped).",
        },
        "variables": {"type": "object", "description": "Values for `template`."},
        "source_file": {
            "type": "string",
            "description": "Workspace-relative .md or .html file to convert instead.",
        },
        "title": {"type": "string", "maxLength": 200, "description": "PDF title metadata."},
        "css": {
            "type": "string",
            "maxLength": 100_000,
            "description": "Extra CSS applied after the default style (A4, page numbers).",
        },
        "charts": {"type": "array", "maxItems": MAX_CHARTS, "items": CHART_SCHEMA},
    },
    "required": ["output"],
    "additionalProperties": False,
}


class _Fetcher(URLFetcher):  # type: ignore[misc]
    """Serves `data:` URIs, `chart:<id>` images and workspace files; refuses anything else."""

    def __init__(self, root: Path, charts: dict[str, bytes]) -> None:
        super().__init__(timeout=1, allowed_protocols=("data",), allow_redirects=False)
        self.root = root
        self.charts = charts
        self.refused: list[str] = []

    def fetch(self, url: str, headers: Any = None) -> Any:
        scheme = url.split(":", 1)[0].lower()
        if scheme == "data":
            return super().fetch(url, headers)
        if scheme == "chart" and url[6:] in self.charts:
            return URLFetcherResponse(url, self.charts[url[6:]], {"Content-Type": "image/png"})
        if scheme == "file" and (found := self._workspace_file(url)) is not None:
            name, data = found
            media = mimetypes.guess_type(name)[0] or "application/octet-stream"
            return URLFetcherResponse(url, data, {"Content-Type": media})
        self.refused.append(self._shown(url))
        raise ValueError(f"{url} is not a workspace file, data: URI or chart")

    def _shown(self, url: str) -> str:
        """The URL as the model wrote it: a workspace path relative, not the host's path."""
        prefix = self.root.as_uri() + "/"
        return url.removeprefix(prefix) if url.startswith(prefix) else url

    def _workspace_file(self, url: str) -> tuple[str, bytes] | None:
        """(name, bytes) of a workspace file URL, read by descriptor; None for anything else."""
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            return None
        path = Path(os.path.normpath(url2pathname(parts.path)))
        if not path.is_relative_to(self.root) or path == self.root:
            return None
        try:
            data = read_bytes(self.root, str(path.relative_to(self.root)), MAX_RESOURCE_BYTES)
        except (ToolError, OSError):
            return None
        return path.name, data


def _output_path(output: str) -> str:
    """`report.pdf` goes to `output/report.pdf`; a path with a directory stays as given."""
    if "/" not in output.strip("/") and not os.path.isabs(output):
        return str(PurePosixPath("output") / output)
    return output


def _source_html(workspace: Path, args: dict[str, Any]) -> tuple[str, Path]:
    """The document as HTML and the directory its relative URLs start from."""
    given = [key for key in SOURCES if key in args]
    if len(given) != 1:
        raise ToolError("give exactly one of `markdown`, `html`, `template` or `source_file`")
    kind, base = given[0], workspace.resolve()
    if kind == "source_file":
        rel = args["source_file"]
        text = read_workspace_text(workspace, rel, MAX_SOURCE_BYTES)
        base = base.joinpath(os.path.normpath(rel)).parent
        kind = "markdown" if rel.lower().endswith((".md", ".markdown")) else "html"
        if kind == "html" and not rel.lower().endswith((".html", ".htm")):
            raise ToolError("source_file must be a .md, .markdown, .html or .htm file")
    else:
        text = args[kind]
        if len(text.encode()) > MAX_SOURCE_BYTES:
            raise ToolError(f"the document is over the {MAX_SOURCE_BYTES} byte limit")
    if kind == "markdown":
        html = markdown.markdown(text, extensions=["extra", "sane_lists"])
    elif kind == "template":
        html = render_template(text, args.get("variables") or {}, autoescape=True)
    else:
        html = text
    return html, base


def _place_charts(html: str, charts: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """Refuse references to unknown charts; append the charts the document does not place."""
    known = {c["id"] for c in charts}
    used = {a or b for a, b in _CHART_REF.findall(html)}
    if unknown := sorted(used - known):
        raise ToolError(f"the document uses undefined chart(s) {unknown}; defined: {sorted(known)}")
    extra = [c["id"] for c in charts if c["id"] not in used]
    figures = "".join(f'<figure><img src="chart:{cid}"></figure>' for cid in extra)
    end = html.lower().rfind("</body>")
    html = html[:end] + figures + html[end:] if end >= 0 else html + figures
    if "<html" not in html[:2000].lower():
        html = f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>{html}</body></html>'
    return html, extra


def _render(
    html: str, base: Path, fetcher: _Fetcher, css: str, title: str | None
) -> tuple[bytes, int]:
    """Lay out and write the document (blocking); returns the PDF bytes and the page count."""
    base_url = base.as_uri() + "/"
    with _render_lock:
        sheets = [CSS(string=DEFAULT_CSS, url_fetcher=fetcher)]
        if css:
            sheets.append(CSS(string=css, base_url=base_url, url_fetcher=fetcher))
        page = HTML(string=html, base_url=base_url, url_fetcher=fetcher)
        document = page.render(stylesheets=sheets)
        if title:
            document.metadata.title = title
        return document.write_pdf(), len(document.pages)


def artifact_id(task_id: str, step_no: int) -> str:
    """The PDF artifact's id: the same for every retry of a step."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"cape:{task_id}:{step_no}:pdf").hex


async def create_pdf(ctx: ToolContext, args: dict[str, Any]) -> ToolOutput:
    """Render the document and its charts to a PDF in the workspace and in the artifact store."""
    charts = args.get("charts", [])
    check_charts(charts)
    rel = _output_path(args["output"])
    check_writable(locate(ctx.workspace, rel))  # refuse a bad path before rendering
    html, base = await asyncio.to_thread(_source_html, ctx.workspace, args)
    html, appended = _place_charts(html, charts)
    pngs = await asyncio.to_thread(render_charts, charts)
    fetcher = _Fetcher(ctx.workspace.resolve(), pngs)
    data, pages = await asyncio.to_thread(
        _render, html, base, fetcher, args.get("css", ""), args.get("title")
    )
    # By descriptor, atomically, owned by the sandbox user (`workspace_io`).
    target = await asyncio.to_thread(write_bytes, ctx.workspace, rel, data, Limits.of(ctx.settings))
    shown = target.shown
    info = await ctx.artifacts.put(
        ctx.task_id,
        target.name,
        data,
        "application/pdf",
        step_no=ctx.step_no,
        artifact_id=artifact_id(ctx.task_id, ctx.step_no),
    )
    content = f"Wrote {shown}: {pages} page(s), {len(data)} bytes (artifact {info.id})."
    if appended:
        content += f" Charts not placed in the document were appended at the end: {appended}."
    if fetcher.refused:
        refused = list(dict.fromkeys(fetcher.refused))
        skipped = ", ".join(refused[:10]) + (
            f" and {len(refused) - 10} more" if refused[10:] else ""
        )
        content += f" Not loaded (only workspace files, data: URIs and charts are): {skipped}."
    log.info("pdf created", path=shown, pages=pages, size=len(data), refused=len(fetcher.refused))
    record = {"path": shown, "pages": pages, "size": len(data), "artifact_id": info.id}
    return ToolOutput(content=content, records=[("pdf-created", record)], artifacts=[info.id])


TOOLS: list[ToolSpec] = [
    ToolSpec(
        name="create_pdf",
        description=(
            "Render a PDF into the workspace (and keep it as an artifact) from exactly one of "
            "`markdown`, `html`, a Jinja2 `template` with `variables`, or a `source_file`. "
            "Charts: define them in `charts` and place each as an image whose URL is "
            "`chart:<id>`, e.g. Markdown `![Sales by month](chart:sales)` or HTML "
            '`<img src="chart:sales">`; charts not placed are appended at the end. Images may '
            "be workspace files (relative paths) or data: URIs; web URLs are not loaded. "
            "A4 pages with page numbers; add `css` to restyle."
        ),
        parameters=PARAMETERS,
        risk=Risk.WRITE,
        placement=Placement.WORKSPACE,
        handler=create_pdf,
    )
]
