"""Test harness pieces: real Temporal, real databases, real HTTP, the scripted LLM."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import uvicorn
from sqlalchemy import select

from api.app import create_app
from cape.auth import create_api_key
from cape.db.engine import create_engine, session_factory
from cape.db.models import TaskEvent, TaskStep
from cape.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_database(admin_url: str | None, tmp: Path) -> tuple[str, str | None]:
    """A fresh database: a SQLite file, or a new PostgreSQL database next to `admin_url`."""
    if not admin_url:
        return f"sqlite+aiosqlite:///{tmp / 'cape-test.db'}", None
    name = f"cape_test_{uuid.uuid4().hex[:10]}"
    plain = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}", name


def drop_database(admin_url: str, name: str) -> None:
    plain = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def settings_env(settings: Settings) -> dict[str, str]:
    """Environment for a `cape` subprocess with the same settings."""
    env = dict(os.environ)
    env.update(
        {
            "CAPE_DATABASE_URL": settings.database_url,
            "CAPE_DATA_DIR": str(settings.data_dir),
            "TEMPORAL_ADDRESS": settings.temporal_address,
            "TEMPORAL_NAMESPACE": settings.temporal_namespace,
            "CAPE_TASK_QUEUE": settings.task_queue,
            "OPENAI_BASE_URL": settings.openai_base_url,
            "OPENAI_API_KEY": settings.openai_api_key.get_secret_value(),
            "CAPE_DEFAULT_MODEL": settings.default_model,
            "CAPE_HEARTBEAT_TIMEOUT_SECONDS": str(settings.heartbeat_timeout_seconds),
            "CAPE_RETRY_INITIAL_SECONDS": str(settings.retry_initial_seconds),
            "CAPE_SSE_PING_SECONDS": str(settings.sse_ping_seconds),
            "CAPE_TOKEN_COALESCE_MS": str(settings.token_coalesce_ms),
            "CAPE_API_PORT": str(settings.api_port),
            "CAPE_LOG_LEVEL": "WARNING",
        }
    )
    return env


def spawn(command: str, settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    """Start `cape <command>` as a real process with `settings`."""
    handle = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "cape.cli", command],
        env=settings_env(settings),
        stdout=handle,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )


async def wait_http(url: str, deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    async with httpx.AsyncClient() as client:
        while True:
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > end:
                raise TimeoutError(f"{url} did not answer within {deadline} s")
            await asyncio.sleep(0.1)


@asynccontextmanager
async def running_api(settings: Settings) -> AsyncIterator[str]:
    """The real app served by uvicorn over loopback in this event loop; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(settings.model_copy(update={"public_url": f"http://127.0.0.1:{port}"}))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def new_api_key(settings: Settings, owner: str = "tester") -> str:
    engine = create_engine(settings)
    try:
        async with session_factory(engine)() as session:
            return await create_api_key(session, owner=owner, name="test")
    finally:
        await engine.dispose()


async def read_sse(
    client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None, limit: float = 60
) -> list[dict[str, Any]]:
    """Read an SSE stream to its `end` event; returns every message (ids, events and data)."""
    messages: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    async with asyncio.timeout(limit):
        async with client.stream("GET", url, headers=headers, timeout=limit) as response:
            assert response.status_code == 200, await response.aread()
            async for line in response.aiter_lines():
                if line == "":
                    if current:
                        messages.append(current)
                        if current.get("event") == "end":
                            return messages
                    current = {}
                elif line.startswith(":"):
                    current.setdefault("comments", []).append(line)
                else:
                    field, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if field == "data":
                        current["data"] = json.loads(value)
                    else:
                        current[field] = value
    return messages


async def stored(settings: Settings, task_id: str) -> tuple[list[TaskStep], list[TaskEvent]]:
    """The task's steps and events as the database holds them."""
    engine = create_engine(settings)
    try:
        async with session_factory(engine)() as session:
            steps = list(
                await session.scalars(
                    select(TaskStep).where(TaskStep.task_id == task_id).order_by(TaskStep.step_no)
                )
            )
            events = list(
                await session.scalars(
                    select(TaskEvent).where(TaskEvent.task_id == task_id).order_by(TaskEvent.seq)
                )
            )
        return steps, events
    finally:
        await engine.dispose()
