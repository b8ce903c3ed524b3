"""Dashboard routes of approvals, agents, capabilities, schedules, usage (HTML, not in OpenAPI)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.deps import SessionDep, SettingsDep, TemporalDep
from api.ui.auth import PageUserDep
from api.ui.capability_pages import capabilities_page
from api.ui.instance_pages import instances_page
from api.ui.more_pages import (
    agents_page,
    approvals_badge,
    approvals_page,
    schedules_page,
    usage_page,
)

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/approvals", response_class=HTMLResponse)
async def approvals(request: Request, session: SessionDep, principal: PageUserDep) -> HTMLResponse:
    """Every task of the team waiting for an answer, oldest first."""
    return await approvals_page(request, session, principal)


@router.get("/approvals/count", response_class=HTMLResponse)
async def approvals_count(
    request: Request, session: SessionDep, principal: PageUserDep
) -> HTMLResponse:
    """The nav's badge: how many tasks wait for an answer."""
    return await approvals_badge(request, session, principal)


@router.get("/agents", response_class=HTMLResponse)
async def agents(request: Request, session: SessionDep, principal: PageUserDep) -> HTMLResponse:
    """The agent registry: versions and their state, spec, triggers, usage and success rate."""
    return await agents_page(request, session, principal)


@router.get("/capabilities", response_class=HTMLResponse)
async def capabilities(
    request: Request, session: SessionDep, principal: PageUserDep
) -> HTMLResponse:
    """The team's capabilities: agents in the assigner's order, availability and records."""
    return await capabilities_page(request, session, principal)


@router.get("/schedules", response_class=HTMLResponse)
async def schedules(
    request: Request,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: PageUserDep,
) -> HTMLResponse:
    """The team's schedules: timing, next runs, recent runs; pause, resume, trigger."""
    return await schedules_page(request, session, temporal, settings, principal)


@router.get("/usage", response_class=HTMLResponse)
async def usage(
    request: Request,
    session: SessionDep,
    principal: PageUserDep,
    days: Annotated[str, Query(max_length=4)] = "30",
) -> HTMLResponse:
    """Tokens and cost by day, agent and model over the last `days` (7, 30 or 90)."""
    return await usage_page(request, session, principal, days)


@router.get("/instances", response_class=HTMLResponse)
async def instances(
    request: Request, session: SessionDep, temporal: TemporalDep, principal: PageUserDep
) -> HTMLResponse:
    """The team's instances: state, counters, inbox, running tasks; pause, resume, stop."""
    return await instances_page(request, session, temporal, principal)
