"""The capabilities page: what tasks may name instead of an agent, its agents and records."""

from __future__ import annotations

from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from api.capabilities.service import list_capabilities
from api.ui.render import page
from cape.auth import Principal


async def capabilities_page(
    request: Request, session: AsyncSession, principal: Principal
) -> HTMLResponse:
    """Each capability of the team with its agents in the assigner's order (read-only)."""
    listed = await list_capabilities(session, principal)
    return await page(
        request, session, principal, "capabilities.html", "capabilities", caps=listed.items
    )
