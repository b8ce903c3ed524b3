"""HTTP mapping of errors, in one place: every error body is {"error": {code, message, details}}."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.service import RPCError

from api.middleware.body_limit import BodyTooLarge
from cape.errors import (
    BadRequest,
    CapeError,
    InvalidInput,
    RateLimited,
    Unavailable,
    UnsupportedMediaType,
)

log = structlog.get_logger(__name__)
JSON = "application/json"
# What pydantic says when the body it got is not a JSON object (raw bytes of another type).
NOT_AN_OBJECT = {"model_attributes_type", "dict_type"}


def error_response(error: CapeError, headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON response for a CapeError."""
    return JSONResponse(error.to_body(), status_code=error.status_code, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


async def _cape_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CapeError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(exc.retry_after)}
    return error_response(exc, headers)


def _unreadable(request: Request, errors: Sequence[Any]) -> CapeError | None:
    """The error of a body the route cannot read at all, before any field is looked at.

    FastAPI reports broken JSON as a `json_invalid` problem at `body.<offset>`, and a body of
    another media type as raw bytes that are "not a valid dictionary": both are the format,
    not a field.
    """
    for error in errors:
        if error["type"] == "json_invalid":
            offset = error["loc"][1] if len(error["loc"]) > 1 else 0
            reason = (error.get("ctx") or {}).get("error") or error["msg"]
            message = f"the body is not valid JSON: {reason} at character {offset}"
            return BadRequest(message, details=[{"field": "body", "message": message}])
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    is_json = media == JSON or (media.startswith("application/") and media.endswith("+json"))
    not_an_object = any(tuple(e["loc"]) == ("body",) and e["type"] in NOT_AN_OBJECT for e in errors)
    if not is_json and not_an_object:
        return UnsupportedMediaType(
            f"send the body as JSON with Content-Type: {JSON}, not {media or 'no Content-Type'}",
            details={"accepted": [JSON]},
        )
    return None


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    unreadable = _unreadable(request, exc.errors())
    if unreadable is not None:
        return error_response(unreadable)
    problems = [{"field": _field(e["loc"]), "message": e["msg"]} for e in exc.errors()]
    fields = ", ".join(p["field"] for p in problems)
    return error_response(InvalidInput(f"invalid request: {fields}", details=problems))


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc, BodyTooLarge):
        return error_response(exc.to_error())
    codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
    body = {
        "error": {
            "code": codes.get(exc.status_code, "http_error"),
            "message": str(exc.detail),
            "details": None,
        }
    }
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _database_down(_: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable", error=str(exc).splitlines()[0])
    return error_response(
        Unavailable("the database is unavailable; retry shortly"), {"Retry-After": "2"}
    )


async def _database_rejected(request: Request, exc: Exception) -> JSONResponse:
    # The database refused a value the caller sent (a NUL character in a text, a number beyond
    # its column's range): a mistake in the request, not an outage, so no 503 and no retry.
    reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    named = {**request.path_params, **request.query_params}
    fields = [name for name, value in named.items() if "\x00" in str(value)] or ["body"]
    problems = [{"field": field, "message": reason} for field in fields]
    return error_response(
        InvalidInput(f"invalid request: {', '.join(fields)}: {reason}", details=problems)
    )


async def _temporal_down(_: Request, exc: Exception) -> JSONResponse:
    log.warning("temporal unavailable", error=str(exc))
    return error_response(
        Unavailable("the Temporal service is unavailable; retry shortly", details=str(exc)),
        {"Retry-After": "2"},
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every failure into the JSON error body."""
    app.add_exception_handler(CapeError, _cape_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(DBAPIError, _database_down)
    app.add_exception_handler(DataError, _database_rejected)  # before DBAPIError (a subclass)
    app.add_exception_handler(RPCError, _temporal_down)
