"""Logging in and out: checking the key and setting or clearing the two cookies."""

from __future__ import annotations

from fastapi import Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request

from api.sessions.csrf import check_origin
from api.sessions.schemas import LoginResponse
from api.sessions.signer import IssuedSession
from api.sessions.state import CSRF_COOKIE, SESSION_COOKIE, Authenticators
from cape import audit
from cape.auth import Refused, authenticate
from cape.errors import Unauthorized


def secure_cookies(request: Request, authenticators: Authenticators) -> bool:
    """Whether cookies get `Secure`: the request or the public URL is HTTPS."""
    return request.url.scheme == "https" or authenticators.settings.base_url.startswith("https:")


async def login(
    request: Request,
    response: Response,
    authenticators: Authenticators,
    read_sessions: async_sessionmaker[AsyncSession],
    api_key: str,
) -> LoginResponse:
    """Exchange `api_key` for a session cookie and its CSRF token (both set on `response`).

    Raises:
        Forbidden: the request comes from another site's page (login CSRF).
        Unauthorized: the key may not be used (unknown, revoked, expired, its team deleted).
    """
    check_origin(request, authenticators.settings)
    async with read_sessions() as session:
        try:
            principal = await authenticate(session, api_key)
        except Refused as refused:
            raise Unauthorized(str(refused), details={"field": "api_key"}) from None
    if (context := audit.current.get()) is not None:  # the login is audited as its key's
        context.principal = principal
    issued = authenticators.sessions.issue(principal.key_id)
    set_session_cookies(request, response, authenticators, issued)
    return LoginResponse(
        owner=principal.owner,
        key_id=principal.key_id,
        team_id=principal.team_id,
        role=principal.role,
        scopes=sorted(principal.scopes),
        method="session",
        expires_at=issued.expires_at.isoformat(),
        csrf_token=issued.csrf_token,
    )


def set_session_cookies(
    request: Request, response: Response, authenticators: Authenticators, issued: IssuedSession
) -> None:
    """Set the HttpOnly session cookie and the script-readable CSRF cookie on `response`."""
    secure = secure_cookies(request, authenticators)
    same_site = authenticators.settings.session_same_site
    max_age = authenticators.sessions.ttl_seconds
    for name, value, http_only in (
        (SESSION_COOKIE, issued.cookie, True),
        (CSRF_COOKIE, issued.csrf_token, False),  # the dashboard's script reads it
    ):
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/",
            secure=secure,
            httponly=http_only,
            samesite=same_site,
        )


def logout(request: Request, response: Response, authenticators: Authenticators) -> None:
    """Clear both cookies (the browser forgets the session)."""
    secure = secure_cookies(request, authenticators)
    for name, http_only in ((SESSION_COOKIE, True), (CSRF_COOKIE, False)):
        response.delete_cookie(
            name,
            path="/",
            secure=secure,
            httponly=http_only,
            samesite=authenticators.settings.session_same_site,
        )
