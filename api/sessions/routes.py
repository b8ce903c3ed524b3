"""Browser sessions: log in with an API key, see who is logged in, log out."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.deps import PrincipalDep, ReadSessionsDep
from api.sessions.schemas import LoginRequest, LoginResponse, Whoami
from api.sessions.service import login, logout
from api.sessions.state import AuthenticatorsDep, CredentialDep

router = APIRouter(prefix="/session", tags=["session"])


@router.post("", response_model=LoginResponse)
async def create_session(
    body: LoginRequest,
    request: Request,
    response: Response,
    authenticators: AuthenticatorsDep,
    read_sessions: ReadSessionsDep,
) -> LoginResponse:
    """Exchange an API key for an HttpOnly session cookie (`cape_session`).

    The response also sets the `cape_csrf` cookie (readable by the page's script) and returns
    the same `csrf_token`: every POST, PUT, PATCH or DELETE made with the cookie must send it
    as `X-CSRF-Token`. Revoking the key ends the session at once.
    """
    return await login(
        request, response, authenticators, read_sessions, body.api_key.get_secret_value()
    )


@router.get("", response_model=Whoami)
async def whoami(principal: PrincipalDep, credential: CredentialDep) -> Whoami:
    """Who the request is authenticated as: by session cookie, API key or JWT (401 if none)."""
    return Whoami(
        owner=principal.owner,
        key_id=principal.key_id,
        team_id=principal.team_id,
        role=principal.role,
        scopes=sorted(principal.scopes),
        method=credential.method,
        expires_at=credential.expires_at,
    )


@router.delete("", status_code=204)
async def delete_session(
    _: PrincipalDep, request: Request, response: Response, authenticators: AuthenticatorsDep
) -> Response:
    """Log out: clear the session cookies (with the cookie, this needs `X-CSRF-Token`)."""
    logout(request, response, authenticators)
    response.status_code = 204
    return response
