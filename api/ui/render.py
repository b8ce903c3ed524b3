"""The dashboard's Jinja2 environment: templates from the package, filters, the page frame."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from cape.auth import Principal
from cape.db.models import Task
from cape.domain import TaskStatus
from cape.teams import Scope

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=HERE / "templates")
STATIC_DIR = HERE / "static"
NAV = (
    ("tasks", "/ui/tasks", "Tasks"),
    ("approvals", "/ui/approvals", "Approvals"),
    ("agents", "/ui/agents", "Agents"),
    ("capabilities", "/ui/capabilities", "Capabilities"),
    ("schedules", "/ui/schedules", "Schedules"),
    ("events", "/ui/events", "Events"),
    ("marketplace", "/ui/marketplace", "Marketplace"),
    ("locks", "/ui/locks", "Locks"),
    ("instances", "/ui/instances", "Instances"),
    ("usage", "/ui/usage", "Usage"),
)


def duration(start: datetime | None, end: datetime | None) -> str:
    """`1.2 s`, `3 m 4 s`, `2 h 5 m`; `-` without a start; up to now while still running."""
    if start is None:
        return "-"
    if end is None:
        end = datetime.now(UTC).replace(tzinfo=None) if start.tzinfo is None else datetime.now(UTC)
    seconds = max((end - start).total_seconds(), 0.0)
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} m {int(seconds % 60)} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} m"


def when(value: datetime | None) -> str:
    """A timestamp as `YYYY-MM-DD HH:MM:SS` UTC."""
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def money(value: float | None) -> str:
    """US dollars with enough digits for a cheap model call."""
    return f"${(value or 0.0):.4f}"


def pretty_json(value: Any) -> str:
    """Indented JSON of `value` (strings that hold JSON are parsed first)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return str(value)
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


# What the task page offers to preview (api/ui/preview.py); the rest only downloads.
INLINE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf")
TEXT_TYPES = ("text/markdown", "text/x-markdown", "text/plain", "text/csv", "application/json")


def previewable(media_type: str) -> bool:
    """Whether the task page offers a preview of this media type."""
    return media_type in INLINE_TYPES or media_type in TEXT_TYPES


TEMPLATES.env.filters.update(duration=duration, when=when, money=money, pretty=pretty_json)
TEMPLATES.env.globals.update(
    statuses=[s.value for s in TaskStatus], NAV=NAV, previewable=previewable
)


async def waiting_count(session: AsyncSession, principal: Principal) -> int:
    """How many of the team's tasks wait for an answer (the nav's badge)."""
    query = select(func.count()).where(
        Task.team_id == principal.team_id, Task.status == TaskStatus.INPUT_REQUIRED
    )
    return int(await session.scalar(query) or 0)


async def page(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    template: str,
    active: str,
    **context: Any,
) -> HTMLResponse:
    """A full page: the frame (nav with the approvals count, who is logged in) around `template`."""
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "principal": principal,
            "active": active,
            "waiting": await waiting_count(session, principal),
            "can_write": Scope.TASKS_WRITE in principal.scopes,
            "is_admin": Scope.ADMIN in principal.scopes,
            **context,
        },
    )


def fragment(request: Request, template: str, **context: Any) -> HTMLResponse:
    """A partial (for htmx): `template` alone, no frame."""
    return TEMPLATES.TemplateResponse(request, template, context)
