"""Dashboard routes of tasks: the list, one task, the start form (HTML, not in the OpenAPI)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import ArtifactStoreDep, SessionDep, SettingsDep
from api.ui.auth import PageUserDep
from api.ui.preview import preview
from api.ui.task_list import ListQuery
from api.ui.task_pages import new_task_page, task_page, task_panel, task_rows, tasks_page

router = APIRouter(prefix="/ui", include_in_schema=False)
Short = Annotated[str, Query(max_length=128)]


def list_query(
    status: Annotated[str, Query(max_length=32)] = "",
    agent: Short = "",
    since: Annotated[str, Query(max_length=8)] = "",
    cursor: Annotated[str, Query(max_length=512)] = "",
) -> ListQuery:
    """The list's filters from the query string; the page and its live rows read the same."""
    return ListQuery(status=status, agent=agent, since=since, cursor=cursor)


ListQueryDep = Annotated[ListQuery, Depends(list_query)]


@router.get("")
@router.get("/")
async def home() -> RedirectResponse:
    """The dashboard opens on the task list."""
    return RedirectResponse("/ui/tasks", status_code=303)


@router.get("/tasks", response_class=HTMLResponse)
async def tasks(
    request: Request,
    session: SessionDep,
    principal: PageUserDep,
    query: ListQueryDep,
) -> HTMLResponse:
    """The team's tasks, newest first, filtered by status, agent and time window."""
    return await tasks_page(request, session, principal, query)


@router.get("/tasks/rows", response_class=HTMLResponse)
async def rows(
    request: Request,
    session: SessionDep,
    principal: PageUserDep,
    query: ListQueryDep,
) -> HTMLResponse:
    """The rows of the list alone: the page polls them to stay live."""
    return await task_rows(request, session, principal, query)


@router.get("/tasks/new", response_class=HTMLResponse)
async def new_task(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PageUserDep,
    agent: Short = "",
) -> HTMLResponse:
    """The form that starts a task of `agent`, generated from its input schema and with files."""
    return await new_task_page(request, session, settings, principal, agent)


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
async def task(
    task_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PageUserDep,
) -> HTMLResponse:
    """One task of the team: its steps, live answer, question, artifacts and actions."""
    return await task_page(request, session, settings, principal, task_id)


@router.get("/tasks/{task_id}/panel", response_class=HTMLResponse)
async def panel(
    task_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PageUserDep,
) -> HTMLResponse:
    """The task page's changing part, re-read when its events say something changed."""
    return await task_panel(request, session, settings, principal, task_id)


@router.get("/tasks/{task_id}/artifacts/{artifact_id}")
async def artifact_preview(
    task_id: str,
    artifact_id: str,
    request: Request,
    session: SessionDep,
    store: ArtifactStoreDep,
    principal: PageUserDep,
) -> Response:
    """An artifact shown in the browser (images, PDF, Markdown, text), else its download."""
    return await preview(request, session, store, principal, task_id, artifact_id)
