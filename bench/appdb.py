"""A fresh, migrated app database for the in-process benchmarks (`steps.py`, `step_writes.py`)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cape.logs import configure_logging
from cape.settings import Settings
from cli.testing.databases import create_postgres_database, drop_postgres_database
from migrations.apply import upgrade

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextmanager
def fresh_database(db: str, pg_admin_url: str, prefix: str) -> Iterator[Settings]:
    """Settings on a new SQLite file in a temp dir, or a new PostgreSQL database, dropped after.

    Logging is configured at WARNING so the figures are not interleaved with log lines.
    """
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        name = None
        url = f"sqlite+aiosqlite:///{tmp}/cape.db"
        if db == "postgres":
            url, name = create_postgres_database(pg_admin_url, "cape_bench")
        try:
            settings = Settings(database_url=url, data_dir=Path(tmp) / "data", log_level="WARNING")
            configure_logging(settings)
            upgrade(settings)
            yield settings
        finally:
            if name is not None:
                drop_postgres_database(pg_admin_url, name)
