"""Who a page is for: the session cookie's principal, or a redirect to the login page.

Pages use the same principal as the JSON API (`api.deps.get_principal`, so a revoked key or a
removed member ends the page session too, and the team's rate limit applies), but only from the
cookie: a page request never carries a bearer credential.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from api.deps import RuntimeDep, check_scope, get_principal
from api.sessions.state import SESSION_COOKIE
from cape.auth import Principal
from cape.errors import Unauthorized
from cape.teams import Scope

LOGIN_PATH = "/ui/login"


class LoginRequired(Exception):
    """The page needs a session: the browser is sent to the login page."""

    def __init__(self, next_url: str, reason: str = "") -> None:
        super().__init__(reason or "login required")
        self.next_url = next_url
        self.reason = reason


def _next(request: Request) -> str:
    path = request.url.path
    return f"{path}?{request.url.query}" if request.url.query else path


async def page_principal(request: Request, runtime: RuntimeDep) -> Principal:
    """The session's principal with `tasks:read`; LoginRequired without a usable session."""
    if not request.cookies.get(SESSION_COOKIE):
        raise LoginRequired(_next(request))
    try:
        principal = await get_principal(request, runtime, None)
    except Unauthorized as refused:
        raise LoginRequired(_next(request), str(refused)) from None
    return check_scope(principal, Scope.TASKS_READ)


def safe_next(value: str | None) -> str:
    """Where to go after login: a path on this site only (never `//host` or a URL)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/ui/tasks"
    return value


async def _to_login(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    target = f"{LOGIN_PATH}?next={quote(safe_next(exc.next_url), safe='/')}"
    if request.headers.get("HX-Request"):  # htmx follows HX-Redirect, not a 303 to a page
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def install_login_redirect(app: FastAPI) -> None:
    """Send page requests without a session to the login page."""
    app.add_exception_handler(LoginRequired, _to_login)


PageUserDep = Annotated[Principal, Depends(page_principal)]
