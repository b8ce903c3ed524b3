"""The login page: an API key exchanged for the same session cookie `POST /v1/session` sets."""

from __future__ import annotations

from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request

from api.sessions.service import login
from api.sessions.state import get_authenticators
from api.ui.auth import safe_next
from api.ui.render import TEMPLATES
from cape.errors import Unauthorized


def login_page(request: Request, next_url: str, error: str = "", status: int = 200) -> HTMLResponse:
    """The login form (with the reason of a refused attempt)."""
    return TEMPLATES.TemplateResponse(
        request,
        "login.html",
        {"next": safe_next(next_url), "error": error, "oidc": get_authenticators(request).oidc},
        status_code=status,
    )


async def log_in(
    request: Request,
    read_sessions: async_sessionmaker[AsyncSession],
    api_key: str,
    next_url: str,
) -> Response:
    """Set the session cookies and go to `next_url`; the form again, with why, on a bad key."""
    response = RedirectResponse(safe_next(next_url), status_code=303)
    try:
        await login(request, response, get_authenticators(request), read_sessions, api_key.strip())
    except Unauthorized as refused:
        return login_page(request, next_url, str(refused), status=401)
    return response
