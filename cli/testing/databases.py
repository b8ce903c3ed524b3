"""Throwaway PostgreSQL databases for the tests and the benchmarks.

Each caller gets a database of its own next to an admin database it can connect to, and drops it
afterwards, so runs never share or leave behind rows.
"""

from __future__ import annotations

import uuid

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url


def _with_database(url: str, database: str) -> str:
    """`url` (a SQLAlchemy URL) pointing at `database` on the same server."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def _libpq_url(url: str) -> str:
    """`url` (a SQLAlchemy URL) as psycopg takes it: without the `+driver` suffix."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_postgres_database(admin_url: str, prefix: str) -> tuple[str, str]:
    """Create a new, empty database on the PostgreSQL server of `admin_url`.

    Args:
        admin_url: SQLAlchemy URL (e.g. `postgresql+psycopg://postgres@127.0.0.1:5432/test`) of
            an existing database, as a role that may create databases.
        prefix: Start of the new database's name; a random suffix makes it unique.

    Returns:
        The new database's SQLAlchemy URL (`admin_url` with the database swapped) and its name,
        which `drop_postgres_database` takes.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return _with_database(admin_url, name), name


def drop_postgres_database(admin_url: str, name: str) -> None:
    """Drop the database `name` on the server of `admin_url`, closing its connections first.

    Args:
        admin_url: The URL given to `create_postgres_database`.
        name: The name it returned; a database that is already gone is no error.
    """
    with psycopg.connect(_libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def postgres_version(admin_url: str) -> str:
    """The server version of `admin_url`'s PostgreSQL, e.g. `16.4` ("?" if it says nothing)."""
    with psycopg.connect(_libpq_url(admin_url)) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]).split()[0] if row else "?"
