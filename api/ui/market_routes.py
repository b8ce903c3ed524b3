"""Dashboard routes of the marketplace (HTML, not in the OpenAPI)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.deps import SessionDep, SettingsDep
from api.ui.auth import PageUserDep
from api.ui.market_pages import marketplace_page, package_page

router = APIRouter(prefix="/ui", include_in_schema=False)
Text = Annotated[str, Query(max_length=200)]


@router.get("/marketplace", response_class=HTMLResponse)
async def marketplace(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PageUserDep,
    q: Text = "",
    category: Text = "",
    sort: Text = "",
) -> HTMLResponse:
    """The catalogue, searchable by text and category, with the team's installs."""
    return await marketplace_page(request, session, settings, principal, q, category, sort)


@router.get("/marketplace/{name}", response_class=HTMLResponse)
async def package(
    name: str, request: Request, session: SessionDep, settings: SettingsDep, principal: PageUserDep
) -> HTMLResponse:
    """One package: README, versions, permissions, scan findings, reviews and analytics."""
    return await package_page(request, session, settings, principal, name)
