"""The instances page: each instance of the team with its state now, counters and inbox."""

from __future__ import annotations

import asyncio

from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from temporalio.client import Client

from api.instances.schemas import InstanceOut
from api.instances.views import instance_out, instance_page, live
from api.ui.render import page
from cape.auth import Principal
from cape.db.instance_models import AgentInstance
from cape.teams import Scope

PAGE_SIZE = 50
LIVE_SECONDS = 3.0  # the page answers the saved copy of an instance whose worker is slow


async def _now(temporal: Client, session: AsyncSession, item: InstanceOut) -> InstanceOut:
    row = await session.get(AgentInstance, item.id)
    if row is None:
        return item
    try:
        async with asyncio.timeout(LIVE_SECONDS):
            return instance_out(row, await live(temporal, row))
    except TimeoutError:
        return item


async def instances_page(
    request: Request, session: AsyncSession, temporal: Client, principal: Principal
) -> HTMLResponse:
    """The team's instances, newest first, each as its workflow holds it now."""
    listed = await instance_page(session, principal.team_id, None, PAGE_SIZE, None)
    items = [await _now(temporal, session, item) for item in listed.items]
    can_write = Scope.TASKS_WRITE in principal.scopes
    return await page(
        request, session, principal, "instances.html", "instances",
        instances=items, can_write=can_write,
    )  # fmt: skip
