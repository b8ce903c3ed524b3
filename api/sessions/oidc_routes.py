"""Logging in to the dashboard through the OIDC provider (authorization code with PKCE)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse

from api.deps import ReadSessionsDep
from api.sessions.oidc_service import finish_login, start_login
from api.sessions.state import AuthenticatorsDep

router = APIRouter(prefix="/session/oidc", tags=["session"])
Param = Annotated[str | None, Query(max_length=4096)]


@router.get("/login", status_code=302, response_class=RedirectResponse)
async def oidc_login(
    request: Request,
    authenticators: AuthenticatorsDep,
    next_path: Annotated[str | None, Query(alias="next", max_length=2048)] = None,
) -> RedirectResponse:
    """Start a login: `302` to the provider's authorization endpoint (404 when OIDC is off).

    `next` (a path on this site) is where the callback sends the browser once logged in.
    """
    return await start_login(request, authenticators, next_path)


@router.get("/callback", status_code=302, response_class=RedirectResponse)
async def oidc_callback(
    request: Request,
    authenticators: AuthenticatorsDep,
    read_sessions: ReadSessionsDep,
    code: Param = None,
    state: Param = None,
    error: Param = None,
) -> RedirectResponse:
    """The provider's redirect back: sets `cape_session` and `cape_csrf`, then `302` to `next`.

    Every failure is a 401 or 403 JSON body with `details.reason`, and sets no session.
    """
    return await finish_login(request, authenticators, read_sessions, code, state, error)
