"""Dashboard routes of the resource locks (HTML, not in the OpenAPI)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.deps import ReadSessionsDep, SessionDep, TemporalDep
from api.ui.auth import PageUserDep
from api.ui.lock_pages import lock_page, locks_page

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/locks", response_class=HTMLResponse)
async def locks(request: Request, session: SessionDep, principal: PageUserDep) -> HTMLResponse:
    """The team's locks: holder, lease expiry, fence, waiters."""
    return await locks_page(request, session, principal)


@router.get("/locks/{resource}", response_class=HTMLResponse)
async def lock(
    resource: str,
    request: Request,
    session: SessionDep,
    reads: ReadSessionsDep,
    temporal: TemporalDep,
    principal: PageUserDep,
) -> HTMLResponse:
    """One lock of the team now: holder, lease, fence, the queue in grant order; release."""
    return await lock_page(request, session, reads, temporal, principal, resource)
