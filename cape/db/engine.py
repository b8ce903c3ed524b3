"""Engine and session factory for the app database (SQLite or PostgreSQL, async)."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from cape.db.gate import WriteGate, begin_promptly
from cape.safe_text import dumps_json, loads_json
from cape.settings import Settings

READONLY = "cape_readonly"
SQLITE_BUSY_SECONDS = 30
WRITE_THREADS = 4  # threads (and connections) running whole write transactions
# The synchronous twin of an async engine, keyed by its sync facade (see `threaded`).
_THREADED: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the API read while the worker writes; busy_timeout turns lock contention between
    # processes into a short wait instead of "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    # Let SQLAlchemy, not the driver, emit BEGIN (see _sqlite_begin).
    dbapi_connection.isolation_level = None


def _sqlite_begin(gate: WriteGate | None, prompt: bool) -> Callable[[Any], None]:
    # `prompt`: the gate is this process's turn only (no lock file), and the writer whose turn
    # it is polls for SQLite's lock; the others wait in line here, not in SQLite.
    def begin(connection: Any) -> None:
        # BEGIN IMMEDIATE takes the write lock up front. A deferred transaction that reads and
        # then writes fails at once with SQLITE_BUSY when another process wrote in between, and
        # busy_timeout does not help there; the API and the worker are separate processes.
        # Read-only sessions (event tailing) begin deferred so they never queue behind writers.
        if connection.get_execution_options().get(READONLY, False):
            connection.exec_driver_sql("BEGIN")
            return
        if gate is not None:
            gate.enter(connection.info)
        try:
            if prompt:
                begin_promptly(connection, SQLITE_BUSY_SECONDS)
            else:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            if gate is not None:
                gate.leave(connection.info)
            raise

    return begin


def _write_gate(settings: Settings, engine: AsyncEngine, prompt: bool) -> WriteGate | None:
    if not settings.db_sqlite_write_gate and not prompt:
        return None
    name = engine.url.database
    database = None if not name or name == ":memory:" else Path(name).resolve()
    gate = WriteGate(None if prompt else database, SQLITE_BUSY_SECONDS)
    # The turn ends when the connection is back in the pool: after its commit or rollback.
    event.listen(engine.sync_engine.pool, "checkin", lambda _dbapi, record: gate.leave(record.info))
    return gate


def _options(settings: Settings) -> dict[str, Any]:
    return {
        # No stored JSON may carry a lone surrogate: it would break every read of its row.
        "json_serializer": dumps_json,
        "json_deserializer": loads_json,
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_timeout": settings.db_pool_timeout_seconds,
    }


def create_engine(settings: Settings, *, prompt_writers: bool = False) -> AsyncEngine:
    """Create the async engine for the configured database.

    `prompt_writers` (the API's engine): on SQLite without the write gate, its writers line up
    in the process (one turn at a time, as with the gate but without its lock file) and the
    writer whose turn it is takes the write lock in the first gap between other processes'
    transactions (`begin_promptly`) instead of sleeping up to 100 ms at a time in SQLite's
    busy handler.
    """
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(settings.async_database_url, **_options(settings))
        event.listen(engine.sync_engine, "connect", _sqlite_connect)
        prompt = prompt_writers and not settings.db_sqlite_write_gate
        gate = _write_gate(settings, engine, prompt)
        event.listen(engine.sync_engine, "begin", _sqlite_begin(gate, prompt))
        if gate is None and engine.url.database not in (None, "", ":memory:"):
            _pair(engine, _threaded_twin(settings))
        return engine
    engine = create_async_engine(
        settings.async_database_url, pool_pre_ping=True, **_options(settings)
    )
    if not prompt_writers:
        # The worker's step writes: psycopg's blocking driver on a writer thread costs a
        # quarter less CPU than its asyncio driver, which wakes the loop at every round trip.
        options = _options(settings) | {"pool_size": WRITE_THREADS, "max_overflow": 0}
        _pair(engine, create_sync_engine(settings.sync_database_url, pool_pre_ping=True, **options))
    return engine


def _pair(engine: AsyncEngine, twin: Engine) -> None:
    """Make `twin` the engine's writer-thread twin (`threaded`), disposed with the engine."""
    _THREADED[engine.sync_engine] = twin
    # Its connections close with the engine's (`await engine.dispose()`).
    event.listen(engine.sync_engine, "engine_disposed", lambda _engine: twin.dispose())


def _threaded_twin(settings: Settings) -> Engine:
    # The same file and connection set-up through the synchronous driver, for whole write
    # transactions run on a thread (`cape.db.writes`): SQLite's lock is then held only while
    # the statements run, not across event-loop cycles between them. Lazy: no connection yet.
    options = _options(settings) | {"pool_size": WRITE_THREADS, "max_overflow": 0}
    engine = create_sync_engine(settings.sync_database_url, **options)
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN IMMEDIATE"))
    return engine


def threaded(engine: AsyncEngine) -> Engine | None:
    """The synchronous twin of an engine whose writes run on threads, else None.

    That is a SQLite file's engine without the write gate, and a PostgreSQL engine made without
    `prompt_writers` (not the API's).
    """
    return _THREADED.get(engine.sync_engine)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """A session factory whose objects stay readable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


def readonly_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for reads only: on SQLite they do not take the write lock."""
    return async_sessionmaker(engine.execution_options(**{READONLY: True}), expire_on_commit=False)


def read_only(sessions: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    """Read-only sessions on the engine of `sessions` (for code handed only a writer's factory).

    On SQLite a writer's session takes the database's write lock at its first statement, even
    for a lookup; these do not, so a read never waits behind (or holds up) another writer.
    """
    bind: AsyncEngine = sessions.kw["bind"]
    return readonly_session_factory(bind)
