"""Test harness pieces: real Temporal, real databases, real HTTP, the scripted LLM."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx
import uvicorn
from sqlalchemy import select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.app import create_app
from cape.auth import create_api_key
from cape.db.engine import create_engine, session_factory
from cape.db.models import TaskEvent, TaskStep
from cape.settings import Settings
from cli.testing.databases import create_postgres_database, drop_postgres_database

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_database(admin_url: str | None, tmp: Path) -> tuple[str, str | None]:
    """A fresh database: a SQLite file, or a new PostgreSQL database next to `admin_url`."""
    if not admin_url:
        return f"sqlite+aiosqlite:///{tmp / 'cape-test.db'}", None
    return create_postgres_database(admin_url, "cape_test")


def drop_database(admin_url: str, name: str) -> None:
    drop_postgres_database(admin_url, name)


def settings_env(settings: Settings) -> dict[str, str]:
    """Environment for a `cape` subprocess with the same settings."""
    return {**os.environ, **settings.to_env(), "CAPE_LOG_LEVEL": "WARNING"}


def spawn(command: str, settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    """Start `cape <command>` as a real process with `settings`."""
    handle = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "cli", command],
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

    def make(port: int) -> ASGIApp:
        return create_app(settings.model_copy(update={"public_url": f"http://127.0.0.1:{port}"}))

    async with _serve(make, lifespan="on", force_exit=False) as url:
        yield url


async def new_api_key(settings: Settings, owner: str = "tester", team: str | None = None) -> str:
    """A key with every scope of user `owner`, an owner of team `team` (default: `owner`'s own,
    so one owner name is one team); both are made when missing."""
    engine = create_engine(settings)
    try:
        async with session_factory(engine)() as session:
            return await create_api_key(session, owner=owner, name="test", team=team)
    finally:
        await engine.dispose()


async def read_sse(
    client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None, limit: float = 60
) -> list[dict[str, Any]]:
    """Read an SSE stream to its `end` event; returns every message (ids, events and data)."""
    messages: list[dict[str, Any]] = []
    async with asyncio.timeout(limit):
        async for message in iter_sse(client, url, headers):
            messages.append(message)
            if message.get("event") == "end":
                break
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


# --- crash, resume and replay tests -------------------------------------------------------------


async def iter_sse(
    client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Yield SSE messages as they arrive (same shape as `read_sse`), until the stream ends.

    Unlike `read_sse` it neither stops at `end` nor bounds the time: the caller decides when to
    stop, and a dropped connection surfaces as the httpx error.
    """
    current: dict[str, Any] = {}
    async with client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        async for line in response.aiter_lines():
            if line == "":
                if current:
                    yield current
                current = {}
            elif line.startswith(":"):
                current.setdefault("comments", []).append(line)
            else:
                field, _, value = line.partition(":")
                value = value.removeprefix(" ")
                current[field] = json.loads(value) if field == "data" else value


async def wait_until(
    probe: Callable[[], Awaitable[T | None]], what: str, limit: float = 60, every: float = 0.05
) -> T:
    """Poll `probe` until it returns something other than None (or False); bounded by `limit`."""
    end = time.monotonic() + limit
    while True:
        found = await probe()
        if found is not None and found is not False:
            return found
        if time.monotonic() > end:
            raise TimeoutError(f"{what} did not happen within {limit} s")
        await asyncio.sleep(every)


def stop_process(
    proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL, limit: float = 15
) -> int:
    """Send `sig` to `proc` (if still running) and reap it; SIGKILL if it outlives `limit`."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(limit)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(limit)
    return proc.returncode


def log_tail(log: Path, chars: int = 6000) -> str:
    """The end of a subprocess log, for failure messages."""
    return log.read_text(errors="replace")[-chars:] if log.exists() else "(no log)"


def paced(app: ASGIApp, pause: float) -> ASGIApp:
    """`app` with a pause before every streamed body chunk: an LLM that streams slowly."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_slowly(message: Message) -> None:
            if message["type"] == "http.response.body" and message.get("more_body"):
                await asyncio.sleep(pause)
            await send(message)

        await app(scope, receive, send_slowly)

    return wrapped


@asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[str]:
    """Serve an ASGI app over loopback in this event loop; yields its base URL."""
    # force_exit: do not wait for streams a killed worker left open.
    async with _serve(lambda _port: app, lifespan="off", force_exit=True) as url:
        yield url


class _Server(uvicorn.Server):
    """uvicorn's server, which notices a stop at once rather than at its next 0.1 s tick.

    About 200 tests start and stop an API each: the tick was half of every API's stop time.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.stopping = asyncio.Event()

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.1):
                    await self.stopping.wait()


@asynccontextmanager
async def _serve(
    make: Callable[[int], ASGIApp], *, lifespan: Literal["on", "off"], force_exit: bool
) -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(make(port), log_level="warning", lifespan=lifespan, proxy_headers=False)
    server = _Server(config)  # proxy_headers off as `cape api` runs it
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        server.force_exit = force_exit
        server.stopping.set()
        await task
        sock.close()


def check_exactly_once(
    steps: list[TaskStep], events: list[TaskEvent], kinds: list[str]
) -> dict[int, list[int]]:
    """Assert one task's rows and event log are whole after crashes and retries.

    Steps are exactly 1..N with `kinds`, each succeeded; events are numbered 1..M without gaps;
    each step has one `step-finished` (its last event), one `step-started` per attempt that ran
    (attempts increasing, the row's attempt the last of them), and the task one `task-succeeded`,
    the last event. Returns the attempts that ran per step.
    """
    assert [(s.step_no, s.kind, s.status) for s in steps] == [
        (no, kind, "succeeded") for no, kind in enumerate(kinds, start=1)
    ]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    types = [e.type for e in events]
    assert types[:2] == ["task-created", "task-started"], types
    assert types.count("task-succeeded") == 1 and types[-1] == "task-succeeded", types
    assert types.count("task-started") == 1, types
    attempts: dict[int, list[int]] = {}
    for step in steps:
        mine = [e for e in events if e.step_no == step.step_no]
        started = [e.data["attempt"] for e in mine if e.type == "step-started"]
        finished = [e for e in mine if e.type == "step-finished"]
        assert mine[0].type == "step-started" and mine[-1].type == "step-finished", step.step_no
        assert len(finished) == 1, (step.step_no, [e.type for e in mine])
        assert started == sorted(set(started)) and step.attempt == started[-1], (step, started)
        assert finished[0].data["status"] == "succeeded"
        attempts[step.step_no] = started
    return attempts
