"""Long-running processes and admin commands: `cape worker`, `api`, `migrate`; `register_key`."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import structlog

from cape.logs import configure_logging
from cape.settings import Settings
from cli.devserver import PortInUse, check_port_free
from cli.exiting import exit_now
from cli.parentdeath import watch_parent

F = TypeVar("F", bound=Callable[..., Any])
log = structlog.get_logger(__name__)
API_SHUTDOWN_GRACE_SECONDS = 5


def data_dir_option(func: F) -> F:
    """Add `--data-dir`, which overrides CAPE_DATA_DIR (and the default SQLite database)."""
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Data directory (default: $CAPE_DATA_DIR or .cape).",
    )(func)


def load_settings(data_dir: Path | None = None, **overrides: Any) -> Settings:
    """Settings from the environment, with CLI overrides applied.

    Args:
        data_dir: Overrides CAPE_DATA_DIR when given.
        **overrides: Other fields to set; None values are ignored.

    Returns:
        The settings object.
    """
    values = {key: value for key, value in overrides.items() if value is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    return Settings(**values)


def redacted_url(url: str) -> str:
    """A database URL with its password masked, safe to print."""
    from sqlalchemy.engine import make_url  # sqlalchemy: only for the commands that need it

    return make_url(url).render_as_string(hide_password=True)


@click.command()
@data_dir_option
@click.option(
    "--processes",
    type=click.IntRange(min=0),
    default=None,
    help="Worker processes on this host (default: $CAPE_WORKER_PROCESSES, else one per core; "
    "0: one per core).",
)
def worker(data_dir: Path | None, processes: int | None) -> None:
    """Run a worker: executes workflows and activities until SIGTERM or Ctrl-C.

    With several processes (one per core by default) this command supervises them: each is a
    whole worker on the shared and the host's queue; one that exits is restarted.
    """
    from cli.workers import WORKER_INDEX_ENV, run_worker_processes, worker_processes

    settings = load_settings(data_dir)
    configure_logging(settings)
    if index := os.environ.get(WORKER_INDEX_ENV):
        # One of `cape worker --processes N`'s children: they share its output, so say which.
        structlog.contextvars.bind_contextvars(worker_process=int(index))
    watch_parent()
    count = worker_processes(settings, processes)
    if count > 1:
        exit_now(run_worker_processes(settings, count, data_dir))
    from worker.main import run_worker

    code = 0
    try:
        asyncio.run(run_worker(settings))
    except Exception:
        log.exception("worker failed")
        code = 1
    exit_now(code)  # see cli.exiting: a clean shutdown must not end in the SDK's abort


@click.command()
@data_dir_option
@click.option("--host", default=None, help="Interface to listen on (default: $CAPE_API_HOST).")
@click.option("--port", default=None, type=int, help="Port (default: $CAPE_API_PORT or 8000).")
def api(data_dir: Path | None, host: str | None, port: int | None) -> None:
    """Serve the HTTP API until SIGTERM or Ctrl-C."""
    import uvicorn

    from api.app import create_app

    settings = load_settings(data_dir, api_host=host, api_port=port)
    try:
        check_port_free(settings.api_host, settings.api_port, "API", "--port")
    except PortInUse as exc:
        raise click.ClickException(str(exc)) from exc
    configure_logging(settings)
    watch_parent()
    # uvicorn re-raises the signal it caught after its graceful shutdown; a no-op handler
    # turns that into a normal return, so a requested stop exits with status 0.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda _signum, _frame: None)
    config = uvicorn.Config(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        lifespan="on",
        # The client's address is the connection's; X-Forwarded-For counts only when
        # CAPE_TRUST_FORWARDED_FOR says a proxy sets it (the audit middleware reads it then).
        proxy_headers=False,
        log_config=None,  # keep the structlog set-up of configure_logging
        log_level=None,
        # Event streams never end on their own while a task runs: without a bound, a stop
        # would wait for every open stream's task to finish. Clients resume with Last-Event-ID.
        timeout_graceful_shutdown=API_SHUTDOWN_GRACE_SECONDS,
    )
    server = uvicorn.Server(config)
    loop = (config.get_loop_factory() or asyncio.new_event_loop)()
    loop.run_until_complete(server.serve())
    # The lifespan has closed what the app owns. Exit without asyncio's teardown: a stream
    # cancelled mid-query at the end of the grace period leaves SQLAlchemy's aiosqlite close
    # task waiting forever (aiosqlite >= 0.22), and asyncio.run would wait on it.
    exit_now(0 if server.started else 3)  # 3: uvicorn's start-up failure status


@click.command()
@data_dir_option
def migrate(data_dir: Path | None) -> None:
    """Bring the app database to the latest schema."""
    from migrations.apply import upgrade

    settings = load_settings(data_dir)
    upgrade(settings)
    click.echo(f"Database is up to date: {redacted_url(settings.sync_database_url)}")


async def register_key(
    settings: Settings, *, owner: str, name: str, key: str | None = None, team: str | None = None
) -> str:
    """Store an API key in the app database.

    Args:
        settings: Where the database is.
        owner: The owner the key authenticates as.
        name: A label for the key.
        key: A known secret to register (idempotent), or None for a new random one.
        team: The team's slug (made when missing, `owner` its owner); default: `owner`'s own.

    Returns:
        The secret.
    """
    from cape.auth import create_api_key
    from cape.db.engine import create_engine, session_factory

    engine = create_engine(settings)
    try:
        async with session_factory(engine)() as session:
            return await create_api_key(session, owner=owner, name=name, key=key, team=team)
    finally:
        await engine.dispose()


COMMANDS = [worker, api, migrate]
