"""Dependency aliases: routes declare what they need with these, nothing else.

A route that waits on Temporal (or streams) must not hold a database session meanwhile: on
SQLite a writing session holds the write lock, and any session holds a pooled connection. Such
routes take `OwnedTaskDep` (the task, loaded in a session of its own that is closed before the
route runs) and hand the session factories (`ReadSessionsDep`, `WriteSessionsDep`) to services
that open short sessions around each database step. `SessionDep` is for routes that only read.

Who may call: `PrincipalDep` (any valid key), `ReaderDep`, `WriterDep`, `AgentWriterDep` and
`AdminDep` (the key holds `tasks:read`, `tasks:write`, `agents:write`, `admin` within its
user's role; 403 names what is missing), `OwnerDep` (an owner of the key's team). Every
principal carries its team; services scope every query by it (another team's object: 404).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection
from temporalio.client import Client

from api.admin.reconcile import Reconcile
from api.admin.reconciler import ReconcileLoop
from api.runtime import Runtime
from api.sessions.authn import bearer_principal, cookie_principal
from api.streams.feed import EventFeed
from api.tasks.queries import load_owned_task
from cape import audit
from cape.artifacts import ArtifactStore
from cape.auth import Principal, Refused, authenticate
from cape.db.models import Task
from cape.errors import ClientError, Forbidden, Unauthorized
from cape.settings import Settings
from cape.team_limits import count_request, effective
from cape.teams import Role, Scope, at_least

_bearer = HTTPBearer(
    auto_error=False,
    description="An API key (`Authorization: Bearer cape_...`) or, when configured, a JWT.",
)


def get_runtime(connection: HTTPConnection) -> Runtime:
    """The lifespan's resources (for HTTP requests and WebSockets alike)."""
    runtime: Runtime = connection.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_settings(runtime: RuntimeDep) -> Settings:
    """The app's settings."""
    return runtime.settings


async def get_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """A read-only database session for one request."""
    async with runtime.read_sessions() as session:
        yield session


async def get_write_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """A database session for a request that writes."""
    async with runtime.sessions() as session:
        yield session


def get_read_sessions(runtime: RuntimeDep) -> async_sessionmaker[AsyncSession]:
    """The factory of read-only sessions, for services that open their own short sessions."""
    return runtime.read_sessions


def get_write_sessions(runtime: RuntimeDep) -> async_sessionmaker[AsyncSession]:
    """The factory of writing sessions, for services that open their own short sessions."""
    return runtime.sessions


def get_temporal(runtime: RuntimeDep) -> Client:
    """The shared Temporal client."""
    return runtime.temporal


def get_feed(runtime: RuntimeDep) -> EventFeed:
    """The event feed that tails `task_events`."""
    return runtime.feed


def get_reconcile(runtime: RuntimeDep) -> Reconcile:
    """The row/workflow reconciler's checks and repairs."""
    return runtime.reconciler.reconcile


def get_reconciler(runtime: RuntimeDep) -> ReconcileLoop:
    """The API's reconcile timer (its counters)."""
    return runtime.reconciler


def get_artifact_store(runtime: RuntimeDep) -> ArtifactStore:
    """The artifact store on the app's database and `settings.artifact_root`."""
    return ArtifactStore(runtime.sessions, runtime.settings.artifact_root)


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
WriteSessionDep = Annotated[AsyncSession, Depends(get_write_session)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
FeedDep = Annotated[EventFeed, Depends(get_feed)]
ReadSessionsDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_read_sessions)]
WriteSessionsDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_write_sessions)]
ReconcileDep = Annotated[Reconcile, Depends(get_reconcile)]
ReconcilerDep = Annotated[ReconcileLoop, Depends(get_reconciler)]
ArtifactStoreDep = Annotated[ArtifactStore, Depends(get_artifact_store)]


async def _principal(runtime: Runtime, key: str | None, connection: HTTPConnection) -> Principal:
    # Issue 14 hook (api/sessions/): a session cookie when no credential was sent, a JWT when
    # the credential is not an API key and JWT is on. Otherwise the API key lookup below.
    if not key and (cookie := await cookie_principal(connection, runtime.read_sessions)):
        return cookie
    if key and (token := await bearer_principal(connection, runtime.read_sessions, key)):
        return token
    if not key:
        raise Unauthorized("missing API key: send `Authorization: Bearer <key>`")
    async with runtime.read_sessions() as session:
        try:
            return await authenticate(session, key)
        except Refused as refused:
            raise Unauthorized(str(refused)) from None


async def get_principal(
    connection: HTTPConnection,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Authenticate the Bearer API key (or JWT), or else the session cookie.

    The caller is named in the request's audit context, and its request counted against its
    team's requests-per-minute limit (429 with `Retry-After` over it; no write when unlimited).
    """
    found = await _principal(runtime, credentials.credentials if credentials else None, connection)
    limit = effective(found.rate_limit_rpm, runtime.settings.rate_limit_rpm)
    if limit:
        await count_request(runtime.sessions, found.key_id, limit, datetime.now(UTC))
    # Named only once within its rate: a flood of refused requests writes no audit rows.
    if (context := audit.current.get()) is not None:
        context.principal = found
    return found


async def get_stream_principal(connection: HTTPConnection) -> Principal:
    """Authenticate a stream: Bearer header, `?access_token=`, or the session cookie."""
    runtime: Runtime = connection.app.state.runtime
    header = connection.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer":
        key = connection.query_params.get("access_token", "")
    return await _principal(runtime, key.strip() or None, connection)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def check_scope(principal: Principal, scope: Scope) -> Principal:
    """`principal` if it may use `scope`; 403 naming the scope and the role otherwise."""
    if scope not in principal.scopes:
        raise Forbidden(
            f"missing scope {scope.value!r} (role {principal.role!r}; this key may use: "
            f"{', '.join(sorted(principal.scopes)) or 'nothing'})",
            details={"missing_scope": scope.value, "role": principal.role,
                     "scopes": sorted(principal.scopes)},
        )  # fmt: skip
    return principal


def require(scope: Scope) -> Callable[[Principal], Coroutine[Any, Any, Principal]]:
    """A dependency: the caller, who must hold `scope` (its key's scopes within its role)."""

    async def dependency(principal: PrincipalDep) -> Principal:
        return check_scope(principal, scope)

    return dependency


async def get_team_owner(principal: PrincipalDep) -> Principal:
    """The caller, who must be an owner of its key's team (with the `admin` scope)."""
    if not at_least(principal.role, Role.OWNER):
        raise Forbidden(
            f"missing role 'owner' (the key's user is {principal.role!r})",
            details={"missing_role": Role.OWNER.value, "role": principal.role},
        )
    return check_scope(principal, Scope.ADMIN)


async def get_stream_reader(
    principal: Annotated[Principal, Depends(get_stream_principal)],
) -> Principal:
    """A stream's caller, who must hold `tasks:read`."""
    return check_scope(principal, Scope.TASKS_READ)


ReaderDep = Annotated[Principal, Depends(require(Scope.TASKS_READ))]
WriterDep = Annotated[Principal, Depends(require(Scope.TASKS_WRITE))]
AgentWriterDep = Annotated[Principal, Depends(require(Scope.AGENTS_WRITE))]
AdminDep = Annotated[Principal, Depends(require(Scope.ADMIN))]
OwnerDep = Annotated[Principal, Depends(get_team_owner)]
StreamPrincipalDep = Annotated[Principal, Depends(get_stream_reader)]


async def get_owned_task(task_id: str, runtime: RuntimeDep, principal: ReaderDep) -> Task:
    """The team's task `task_id` (404 otherwise), read in a session closed before the route."""
    return await load_owned_task(runtime.read_sessions, principal, task_id)


async def get_stream_owned_task(
    task_id: str, runtime: RuntimeDep, principal: StreamPrincipalDep
) -> Task:
    """`get_owned_task` for a stream (the key may come as `?access_token=`)."""
    return await load_owned_task(runtime.read_sessions, principal, task_id)


async def stream_refusal(connection: HTTPConnection, task_id: str) -> ClientError | None:
    """Why a WebSocket may not follow task `task_id` (no key, unknown key, not the caller's).

    Browsers cannot read a refused handshake's status, so the route accepts and closes with
    the reason instead of letting a dependency refuse. None: the caller may follow it.
    """
    try:
        principal = check_scope(await get_stream_principal(connection), Scope.TASKS_READ)
        await load_owned_task(get_runtime(connection).read_sessions, principal, task_id)
    except ClientError as error:
        return error
    return None


OwnedTaskDep = Annotated[Task, Depends(get_owned_task)]
StreamOwnedTaskDep = Annotated[Task, Depends(get_stream_owned_task)]
