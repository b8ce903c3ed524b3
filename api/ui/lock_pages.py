"""The locks pages: the team's locks (from their database copy) and one lock now."""

from __future__ import annotations

from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from temporalio.client import Client

from api.locks.service import check_resource
from api.locks.views import list_locks, show
from api.ui.render import page
from cape.auth import Principal

LISTED = 500


async def locks_page(request: Request, session: AsyncSession, principal: Principal) -> HTMLResponse:
    """The team's locks by name: holder, lease expiry, fence and how many wait."""
    locks = await list_locks(session, principal, LISTED)
    return await page(request, session, principal, "locks.html", "locks", locks=locks)


async def lock_page(
    request: Request,
    session: AsyncSession,
    reads: async_sessionmaker[AsyncSession],
    temporal: Client,
    principal: Principal,
    resource: str,
) -> HTMLResponse:
    """One lock now (asked of its workflow): holder, lease, fence and the queue in order."""
    lock = await show(temporal, reads, principal, check_resource(resource))
    return await page(request, session, principal, "lock.html", "locks", lock=lock)
