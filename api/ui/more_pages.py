"""The approvals inbox, the agents, schedules and usage pages."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from temporalio.client import Client

from api.schedules.schemas import ScheduleOut
from api.schedules.service import list_owned
from api.schedules.views import schedule_out
from api.ui.agent_view import agent_cards
from api.ui.charts import bar_chart
from api.ui.inbox import waiting_tasks
from api.ui.render import fragment, page, waiting_count
from api.usage.service import usage_report
from cape.auth import Principal
from cape.errors import CapeError
from cape.settings import Settings

USAGE_DAYS = {"7": 7, "30": 30, "90": 90}


async def approvals_page(
    request: Request, session: AsyncSession, principal: Principal
) -> HTMLResponse:
    """Every task of the team waiting for an answer, oldest first, answerable in place."""
    items = await waiting_tasks(session, principal)
    return await page(request, session, principal, "approvals.html", "approvals", items=items)


async def approvals_badge(
    request: Request, session: AsyncSession, principal: Principal
) -> HTMLResponse:
    """The nav's count of waiting tasks (polled)."""
    return fragment(request, "badge.html", waiting=await waiting_count(session, principal))


async def agents_page(
    request: Request, session: AsyncSession, principal: Principal
) -> HTMLResponse:
    """The registry as the team sees it: versions, states, spec, triggers, usage, success."""
    cards = await agent_cards(session, principal)
    return await page(request, session, principal, "agents.html", "agents", cards=cards)


async def schedules_page(
    request: Request,
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    principal: Principal,
) -> HTMLResponse:
    """The team's schedules with their next runs (Temporal down: the page says so)."""
    schedules: list[ScheduleOut] = []
    error = ""
    try:
        async with asyncio.timeout(10):
            found = await list_owned(temporal, principal)
            schedules = [await schedule_out(temporal, settings, desc) for desc in found]
    except (CapeError, TimeoutError) as exc:
        error = str(exc) or "Temporal did not answer in time"
    return await page(
        request, session, principal, "schedules.html", "schedules",
        schedules=schedules, error=error,
    )  # fmt: skip


async def usage_page(
    request: Request, session: AsyncSession, principal: Principal, days: str
) -> HTMLResponse:
    """Tokens and cost of the team's tasks by day, agent and model, as bar charts."""
    span = USAGE_DAYS.get(days, 30)
    since = datetime.now(UTC) - timedelta(days=span)
    by_day = await usage_report(session, principal, "day", since, None)
    by_agent = await usage_report(session, principal, "agent", since, None)
    by_model = await usage_report(session, principal, "model", since, None)
    charts = {
        "tokens_by_day": bar_chart(by_day.rows, "total_tokens", "Tokens by day"),
        "cost_by_day": bar_chart(by_day.rows, "cost_usd", "Cost by day (USD)"),
        "tokens_by_agent": bar_chart(by_agent.rows, "total_tokens", "Tokens by agent"),
        "cost_by_agent": bar_chart(by_agent.rows, "cost_usd", "Cost by agent (USD)"),
        "tokens_by_model": bar_chart(by_model.rows, "total_tokens", "Tokens by model"),
        "cost_by_model": bar_chart(by_model.rows, "cost_usd", "Cost by model (USD)"),
    }
    return await page(
        request, session, principal, "usage.html", "usage",
        charts=charts, total=by_agent.total, days=str(span), choices=list(USAGE_DAYS),
        tables={"day": by_day.rows, "agent": by_agent.rows, "model": by_model.rows},
    )  # fmt: skip
