"""The task pages: the list (and its live rows), one task (and its live panel), the start form."""

from __future__ import annotations

from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from api.tasks.queries import owned_task
from api.ui.render import fragment, page
from api.ui.start_form import start_form
from api.ui.task_list import WINDOWS, ListQuery, list_page
from api.ui.task_view import task_view
from cape.auth import Principal
from cape.settings import Settings


async def tasks_page(
    request: Request, session: AsyncSession, principal: Principal, query: ListQuery
) -> HTMLResponse:
    """The list of the team's tasks with its filters; the first page refreshes itself."""
    rows, next_cursor = await list_page(session, principal, query)
    return await page(
        request, session, principal, "tasks.html", "tasks",
        rows=rows, next_cursor=next_cursor, query=query, windows=list(WINDOWS),
    )  # fmt: skip


async def task_rows(
    request: Request, session: AsyncSession, principal: Principal, query: ListQuery
) -> HTMLResponse:
    """The list's rows alone (htmx polls them)."""
    rows, next_cursor = await list_page(session, principal, query)
    return fragment(request, "task_rows.html", rows=rows, next_cursor=next_cursor, query=query)


async def task_page(
    request: Request, session: AsyncSession, settings: Settings, principal: Principal, task_id: str
) -> HTMLResponse:
    """One task: header, actions, question, answer, steps, artifacts (404 if not the team's)."""
    view = await task_view(session, settings, await owned_task(session, principal, task_id))
    return await page(request, session, principal, "task.html", "tasks", view=view)


async def task_panel(
    request: Request, session: AsyncSession, settings: Settings, principal: Principal, task_id: str
) -> HTMLResponse:
    """The changing part of the task page (status, question, steps, artifacts), for htmx."""
    view = await task_view(session, settings, await owned_task(session, principal, task_id))
    return fragment(
        request, "task_panel.html", view=view,
        can_write="tasks:write" in principal.scopes,
    )  # fmt: skip


async def new_task_page(
    request: Request, session: AsyncSession, settings: Settings, principal: Principal, agent: str
) -> HTMLResponse:
    """The start form for `agent` (or the first agent), built from its input schema."""
    form = await start_form(session, settings, principal, agent)
    return await page(request, session, principal, "new_task.html", "tasks", form=form)
