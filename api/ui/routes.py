"""Dashboard routes of the session: the login page and its form (HTML, not in the OpenAPI)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import ReadSessionsDep
from api.ui.login import log_in, login_page

router = APIRouter(prefix="/ui", include_in_schema=False)
NextPath = Annotated[str, Query(alias="next", max_length=2048)]


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next_path: NextPath = "/ui/tasks") -> HTMLResponse:
    """The login page: an API key, or the single sign-on button when OIDC is on."""
    return login_page(request, next_path)


@router.post("/login")
async def login_submit(
    request: Request,
    read_sessions: ReadSessionsDep,
    api_key: Annotated[str, Form(max_length=512)],
    next_path: Annotated[str, Form(alias="next", max_length=2048)] = "/ui/tasks",
) -> Response:
    """Log in with an API key: the session cookies and a 303 to `next` (the form on a 401)."""
    return await log_in(request, read_sessions, api_key, next_path)
