"""Every writing request leaves one audit entry, with the caller's address and the outcome.

Routes whose change is a database write record their entry in the change's transaction
(`cape.audit.record`). For the rest (Temporal-only changes: signals, schedules) and for every
refused or failed write, this middleware writes the entry once the status is known and before
the response leaves, so a client that reads `/v1/audit` next sees it. Unauthenticated requests
(401) and rate-limited ones (429 `rate_limited`) leave none: a flood must not fill the table.
"""

from __future__ import annotations

import json
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cape import audit

log = structlog.get_logger(__name__)

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
VERB_OF_METHOD = {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}
COLLECTIONS = {"keys": "api_key", "members": "user", "versions": "agent_version"}
SUB_COLLECTIONS = {"members", "versions", "artifacts"}
MAX_CAPTURED = 65536  # how much of a response body is read for the new object's id


def client_address(scope: Scope, trust_forwarded_for: bool) -> str | None:
    """The client's IP: the first X-Forwarded-For hop only when the proxy is trusted."""
    if trust_forwarded_for:
        forwarded: bytes = dict(scope["headers"]).get(b"x-forwarded-for", b"")
        if first := forwarded.decode("latin-1").split(",")[0].strip():
            return first[:64]
    client = scope.get("client")
    return str(client[0])[:64] if client else None


def describe(method: str, template: str, params: dict[str, Any]) -> tuple[str, str, str]:
    """(action, object type, object id) of a write from its route's path template.

    `/v1/tasks/{task_id}/cancel` is `task.cancel` on task `<task_id>`; `/v1/schedules` with
    POST is `schedule.create`; `/v1/teams/{team_id}/members/{user_id}` with DELETE is
    `user.delete` on `<team_id>/<user_id>`.
    """
    parts = [p for p in template.removeprefix("/v1/").split("/") if p]
    by_method = VERB_OF_METHOD.get(method, method.lower())
    last = parts[-1]
    if last.startswith("{"):  # /things/{id}: the method says what happens to the thing
        collection, verb = parts[-2], by_method
    elif len(parts) == 1 or (parts[-2].startswith("{") and last in SUB_COLLECTIONS):
        collection, verb = last, by_method  # /things, /things/{id}/parts: a new one
    elif parts[-2].startswith("{"):  # /things/{id}/cancel
        collection, verb = parts[-3], last
    else:  # /things/import
        collection, verb = parts[-2], last
    kind = COLLECTIONS.get(collection, collection.removesuffix("s"))
    return f"{kind}.{verb}", kind, "/".join(str(v) for v in params.values())


# The dashboard's own writes, audited as the API route they stand for.
PAGE_WRITES = {"/ui/login": "/v1/session"}


def outcome_of(status: int) -> str:
    """The outcome of a status: ok (2xx, 3xx), refused (4xx) or failed (5xx)."""
    return "ok" if status < 400 else "refused" if status < 500 else "failed"


class AuditMiddleware:
    """Hold a writing request's response until its audit entry is stored.

    Writing routes answer small JSON bodies (none streams), so holding them costs little.
    """

    def __init__(self, app: ASGIApp, trust_forwarded_for: bool = False) -> None:
        self.app = app
        self.trust_forwarded_for = trust_forwarded_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request with its audit context; write the entry before the response ends."""
        if (
            scope["type"] != "http"
            or scope["method"] not in WRITE_METHODS
            or not (scope["path"].startswith("/v1/") or scope["path"] in PAGE_WRITES)
        ):
            await self.app(scope, receive, send)
            return
        context = audit.RequestAudit(client_address(scope, self.trust_forwarded_for))
        token = audit.current.set(context)
        held: list[Message] = []

        async def holding_send(message: Message) -> None:
            held.append(message)

        try:
            await self.app(scope, receive, holding_send)
        except Exception:
            await self._write(scope, context, 500, b"")
            raise
        finally:
            audit.current.reset(token)
        # The app is done, its request-scoped sessions closed (on SQLite a route's writing
        # session holds the write lock until then): now the entry, then the response.
        status = next((m["status"] for m in held if m["type"] == "http.response.start"), 500)
        body = b"".join(m.get("body", b"") for m in held if m["type"] == "http.response.body")
        await self._write(scope, context, status, body[:MAX_CAPTURED])
        for message in held:
            await send(message)

    async def _write(
        self, scope: Scope, context: audit.RequestAudit, status: int, body: bytes
    ) -> None:
        if context.principal is None or (context.recorded and status < 400):
            return
        route = scope.get("route")
        template = str(getattr(route, "path", scope["path"]))
        template = PAGE_WRITES.get(template, template)
        action, kind, object_id = describe(scope["method"], template, scope.get("path_params", {}))
        if not object_id and status < 400:
            object_id = _new_id(body)
        row = audit.entry(
            context.principal, action, kind, object_id, address=context.address,
            details={"method": scope["method"], "path": scope["path"]},
            outcome=outcome_of(status), status_code=status,
        )  # fmt: skip
        try:
            async with scope["app"].state.runtime.sessions() as session:
                session.add(row)
                await session.commit()
        except SQLAlchemyError as exc:  # the change is made; losing its entry is logged loudly
            log.error("audit entry not written", action=action, object_id=object_id, error=str(exc))


def _new_id(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    return str(data.get("id", "")) if isinstance(data, dict) else ""
