"""Migration 0006 keeps the tasks of release 0005, on SQLite and PostgreSQL.

Tasks are written at revision 0005, the database is upgraded to head: they read back with no
trace id, a new row stores one, and the schema is exactly what the models declare. The
downgrade to 0005 keeps the rows.
"""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, TextClause, create_engine, text

from cape.db.models import Base
from cape.settings import Settings
from migrations.apply import alembic_config, upgrade
from tests.test_migration_teams import settings  # noqa: F401  (the SQLite and PostgreSQL fixture)

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
INSERT = text(
    "INSERT INTO tasks (id, agent, agent_version, team_id, owner, status, input, usage, model,"
    " max_steps, last_seq, created_at, updated_at, prompt_tokens, completion_tokens, cost_usd)"
    " VALUES (:id, 'assistant', '1.0.0', 'default', 'ann', 'succeeded', '{}', '{}', 'm', 4, 0,"
    " :now, :now, 0, 0, 0)"
)


def rows_across(config: Settings, revision: str, update: TextClause, **values: object) -> Engine:
    """Rows t0, t1 written at `revision`, the upgrade to head, then t2 given `update`'s values."""
    upgrade(config, revision)
    engine = create_engine(config.sync_database_url)
    with engine.begin() as db:
        for i in range(2):
            db.execute(INSERT, {"id": f"t{i}", "now": NOW})
    upgrade(config)
    with engine.begin() as db:
        db.execute(INSERT, {"id": "t2", "now": NOW})
        db.execute(update, values)
    return engine


def test_tasks_of_0005_are_kept_without_a_trace_id(settings: Settings) -> None:  # noqa: F811
    update = text("UPDATE tasks SET trace_id = :trace WHERE id = 't2'")
    engine = rows_across(settings, "0005", update, trace=TRACE)
    with engine.connect() as db:
        rows = db.execute(text("SELECT id, trace_id, owner FROM tasks ORDER BY id")).all()
        assert [tuple(r) for r in rows] == [
            ("t0", None, "ann"),
            ("t1", None, "ann"),
            ("t2", TRACE, "ann"),
        ]
        diff = compare_metadata(MigrationContext.configure(db), Base.metadata)
    engine.dispose()
    assert diff == []
    command.downgrade(alembic_config(settings), "0005")
    engine = create_engine(settings.sync_database_url)
    with engine.connect() as db:
        assert db.execute(text("SELECT COUNT(*) FROM tasks")).scalar() == 3
    engine.dispose()
