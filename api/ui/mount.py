"""Adding the dashboard to the API: its routers, its static files, its error pages."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api.ui.auth import install_login_redirect
from api.ui.event_routes import router as event_router
from api.ui.lock_routes import router as lock_router
from api.ui.market_routes import router as market_router
from api.ui.page_routes import router as page_router
from api.ui.render import STATIC_DIR, TEMPLATES
from api.ui.routes import router as session_router
from api.ui.task_routes import router as task_router
from cape.errors import CapeError


async def _to_dashboard() -> RedirectResponse:
    """`/` opens the dashboard."""
    return RedirectResponse("/ui/tasks", status_code=303)


def install_ui(app: FastAPI) -> None:
    """Serve the dashboard under `/ui` (after the API's error handlers are installed)."""
    install_login_redirect(app)
    json_errors = app.exception_handlers[CapeError]

    async def page_errors(request: Request, exc: Exception) -> Response:
        # A page shows the error as a page; htmx requests and the JSON API keep the JSON body.
        if not request.url.path.startswith("/ui/") or request.headers.get("HX-Request"):
            answer = json_errors(request, exc)
            return answer if isinstance(answer, Response) else await answer
        assert isinstance(exc, CapeError)
        return TEMPLATES.TemplateResponse(
            request, "error.html", {"error": exc}, status_code=exc.status_code
        )

    app.add_exception_handler(CapeError, page_errors)
    app.include_router(session_router)
    app.include_router(task_router)
    app.include_router(page_router)
    app.include_router(event_router)
    app.include_router(market_router)
    app.include_router(lock_router)
    app.add_api_route("/", _to_dashboard, include_in_schema=False)
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")
