"""Dependency aliases: routes declare what they need with these, nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection
from temporalio.client import Client

from api.runtime import Runtime
from api.streams.feed import EventFeed
from cape.auth import Principal, authenticate
from cape.errors import Unauthorized
from cape.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer cape_...`")


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


def get_temporal(runtime: RuntimeDep) -> Client:
    """The shared Temporal client."""
    return runtime.temporal


def get_feed(runtime: RuntimeDep) -> EventFeed:
    """The event feed that tails `task_events`."""
    return runtime.feed


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
WriteSessionDep = Annotated[AsyncSession, Depends(get_write_session)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
FeedDep = Annotated[EventFeed, Depends(get_feed)]


async def _principal(runtime: Runtime, key: str | None) -> Principal:
    if not key:
        raise Unauthorized("missing API key: send `Authorization: Bearer <key>`")
    async with runtime.read_sessions() as session:
        principal = await authenticate(session, key)
    if principal is None:
        raise Unauthorized("unknown or revoked API key")
    return principal


async def get_principal(
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Authenticate the Bearer API key."""
    return await _principal(runtime, credentials.credentials if credentials else None)


async def get_stream_principal(connection: HTTPConnection) -> Principal:
    """Authenticate a stream: Bearer header, or `?access_token=` for browser EventSource/WS."""
    runtime: Runtime = connection.app.state.runtime
    header = connection.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer":
        key = connection.query_params.get("access_token", "")
    return await _principal(runtime, key.strip() or None)


PrincipalDep = Annotated[Principal, Depends(get_principal)]
StreamPrincipalDep = Annotated[Principal, Depends(get_stream_principal)]
