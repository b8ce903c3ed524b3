"""Previews of artifacts in the browser: images and PDFs inline, Markdown rendered, text as text.

The download route sends every artifact as an attachment, so an uploaded file never renders on
the API's origin. A preview renders only what is safe to: images (not SVG, which may hold
script) and PDFs inline with `nosniff`; Markdown converted to HTML and cleaned of scripts,
styles, forms and embeds, on a page whose Content-Security-Policy allows no script at all.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import markdown
from fastapi.responses import FileResponse, RedirectResponse, Response
from lxml_html_clean import Cleaner
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from api.artifacts.uploads import artifact_file
from api.tasks.queries import owned_task
from api.ui.render import INLINE_TYPES, TEMPLATES, TEXT_TYPES
from cape.artifacts import ArtifactStore
from cape.auth import Principal

MAX_TEXT_BYTES = 1_000_000
NO_SCRIPT = "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'self'"
_cleaner = Cleaner(
    scripts=True, javascript=True, comments=True, style=True, inline_style=True, links=True,
    meta=True, page_structure=True, processing_instructions=True, embedded=True, frames=True,
    forms=True, annoying_tags=True, safe_attrs_only=True,
)  # fmt: skip


def render_markdown(text: str) -> str:
    """Markdown as HTML with everything active removed."""
    html = markdown.markdown(text, extensions=["fenced_code", "tables"])
    return str(_cleaner.clean_html(f"<div>{html}</div>"))


def _read(path: Path) -> str:
    with path.open("rb") as handle:
        return handle.read(MAX_TEXT_BYTES).decode("utf-8", errors="replace")


async def preview(
    request: Request,
    session: AsyncSession,
    store: ArtifactStore,
    principal: Principal,
    task_id: str,
    artifact_id: str,
) -> Response:
    """The artifact shown in the browser, or its download when it cannot be shown safely."""
    task = await owned_task(session, principal, task_id)
    info, path = await artifact_file(store, task.id, artifact_id)
    if info.media_type in INLINE_TYPES:
        return FileResponse(
            path, media_type=info.media_type, filename=info.name, content_disposition_type="inline",
            headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": NO_SCRIPT},
        )  # fmt: skip
    if info.media_type not in TEXT_TYPES:
        return RedirectResponse(f"/v1/tasks/{task.id}/artifacts/{info.id}", status_code=303)
    text = await asyncio.to_thread(_read, path)
    markdown_like = info.media_type in TEXT_TYPES[:2] or info.name.endswith(".md")
    page = TEMPLATES.TemplateResponse(
        request, "artifact.html",
        {"task": task, "info": info, "text": text, "truncated": info.size > MAX_TEXT_BYTES,
         "html": render_markdown(text) if markdown_like else ""},
    )  # fmt: skip
    page.headers["Content-Security-Policy"] = NO_SCRIPT
    page.headers["X-Content-Type-Options"] = "nosniff"
    return page
