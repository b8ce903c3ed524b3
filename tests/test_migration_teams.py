"""Migration 0004 moves existing rows into the team `default`, on SQLite and PostgreSQL.

Rows are written at revision 0003 (as a database of the previous release holds them), then the
database is upgraded to head and checked: one team, each key owner an owner-role member, every
row in the team, and the schema exactly as the models declare. The downgrade returns to 0003.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

import cape.db.agent_models
import cape.db.instance_models  # (registers the instance tables)
import cape.db.lock_models  # (registers the locks table)
import cape.db.market_models  # noqa: F401  (registers the marketplace tables)
from cape.db.models import Base
from cape.settings import Settings
from cli.testing.databases import create_postgres_database, drop_postgres_database
from migrations.apply import alembic_config, upgrade

pytestmark = pytest.mark.database

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    if request.param == "sqlite":
        yield Settings(data_dir=tmp_path)
        return
    admin = os.environ.get("CAPE_TEST_DATABASE_URL")
    if not admin:
        pytest.skip("PostgreSQL: set CAPE_TEST_DATABASE_URL")
    url, name = create_postgres_database(admin, "cape_mig")
    try:
        yield Settings(data_dir=tmp_path, database_url=url)
    finally:
        drop_postgres_database(admin, name)


def _seed(settings: Settings) -> None:
    """Rows as release 0003 wrote them: two key owners, their tasks, an artifact, agents."""
    engine = create_engine(settings.sync_database_url)
    with engine.begin() as db:
        for i, owner in enumerate(["ann", "bob", "ann"]):
            db.execute(
                text(
                    "INSERT INTO api_keys (id, prefix, key_hash, owner, name, created_at)"
                    " VALUES (:id, 'cape_x', :hash, :owner, 'k', :now)"
                ),
                {"id": f"key{i}", "hash": f"{i:064d}", "owner": owner, "now": NOW},
            )
        for task_id, owner, key in [
            ("t1", "ann", "same"),
            ("t2", "bob", "same"),
            ("t3", "cy", None),
        ]:
            db.execute(
                text(
                    "INSERT INTO tasks (id, agent, agent_version, owner, status, input, usage,"
                    " model, max_steps, idempotency_key, last_seq, created_at, updated_at,"
                    " prompt_tokens, completion_tokens, cost_usd)"
                    " VALUES (:id, 'assistant', '1.0.0', :owner, 'succeeded', '{}', '{}', 'm', 4,"
                    " :key, 0, :now, :now, 0, 0, 0)"
                ),
                {"id": task_id, "owner": owner, "key": key, "now": NOW},
            )
        db.execute(
            text(
                "INSERT INTO artifacts (id, task_id, name, media_type, size, sha256, uri,"
                " created_at) VALUES ('a1', 't1', 'x.txt', 'text/plain', 1, 'h', 'file:///x', :now)"
            ),
            {"now": NOW},
        )
        for name, owner, builtin in [("assistant", "system", True), ("mine", "ann", False)]:
            db.execute(
                text(
                    "INSERT INTO agents (name, owner, builtin, description, category, tags,"
                    " created_at, updated_at) VALUES (:n, :o, :b, '', 'general', '[]', :now, :now)"
                ),
                {"n": name, "o": owner, "b": builtin, "now": NOW},
            )
        db.execute(
            text(
                "INSERT INTO audit_events (actor, action, resource_type, resource_id, details, ts)"
                " VALUES ('ann', 'agent.create', 'agent', 'mine', '{}', :now)"
            ),
            {"now": NOW},
        )
    engine.dispose()


def test_existing_rows_move_into_the_default_team(settings: Settings) -> None:
    upgrade(settings, "0003")
    _seed(settings)
    upgrade(settings)
    engine = create_engine(settings.sync_database_url)
    with engine.connect() as db:
        teams = db.execute(text("SELECT id, slug FROM teams")).all()
        assert [tuple(t) for t in teams] == [("team_default", "default")]
        members = db.execute(
            text(
                "SELECT users.name, team_members.role FROM team_members"
                " JOIN users ON users.id = team_members.user_id ORDER BY users.name"
            )
        ).all()
        # Every key owner, and the owner of a task without a key, is an owner of the team.
        assert [tuple(m) for m in members] == [("ann", "owner"), ("bob", "owner"), ("cy", "owner")]
        keys = db.execute(
            text(
                "SELECT api_keys.owner, api_keys.team_id, users.name, api_keys.scopes"
                " FROM api_keys JOIN users ON users.id = api_keys.user_id ORDER BY api_keys.id"
            )
        ).all()
        for owner, team, user, scopes in keys:
            assert (team, user) == ("team_default", owner)
            listed = scopes if isinstance(scopes, list) else json.loads(scopes)
            assert set(listed) == {"tasks:read", "tasks:write", "agents:write", "admin"}
        tasks = db.execute(text("SELECT id, team_id, idempotency_key FROM tasks ORDER BY id"))
        # Two owners used the same Idempotency-Key: each keeps it, prefixed with its owner.
        assert [tuple(t) for t in tasks] == [
            ("t1", "team_default", "ann:same"), ("t2", "team_default", "bob:same"),
            ("t3", "team_default", None),
        ]  # fmt: skip
        assert db.execute(text("SELECT team_id FROM artifacts")).scalar() == "team_default"
        agents: dict[str, str | None] = dict(
            db.execute(text("SELECT name, team_id FROM agents")).all()
        )
        assert agents == {"assistant": None, "mine": "team_default"}
        assert db.execute(text("SELECT team_id FROM audit_events")).scalar() == "team_default"
        diff = compare_metadata(MigrationContext.configure(db), Base.metadata)
    engine.dispose()
    assert diff == []
    command.downgrade(alembic_config(settings), "0003")
    engine = create_engine(settings.sync_database_url)
    with engine.connect() as db:
        assert db.execute(text("SELECT COUNT(*) FROM tasks")).scalar() == 3
        assert db.execute(text("SELECT COUNT(*) FROM api_keys")).scalar() == 3
    engine.dispose()


def test_an_empty_database_gets_no_team(settings: Settings) -> None:
    upgrade(settings)
    engine = create_engine(settings.sync_database_url)
    with engine.connect() as db:
        assert db.execute(text("SELECT COUNT(*) FROM teams")).scalar() == 0
        diff = compare_metadata(MigrationContext.configure(db), Base.metadata)
    engine.dispose()
    assert diff == []
