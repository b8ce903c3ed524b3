"""Migration 0005 keeps the audit entries and teams of release 0004, on SQLite and PostgreSQL.

Rows are written at revision 0004, the database is upgraded to head: old entries read back as
`ok` with no actor details, teams have no limits of their own (the settings' defaults apply),
and the schema is exactly what the models declare. The downgrade to 0004 keeps the rows.
"""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from cape.db.models import Base
from cape.settings import Settings
from migrations.apply import alembic_config, upgrade
from tests.test_migration_teams import settings  # noqa: F401  (the SQLite and PostgreSQL fixture)

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def test_audit_entries_and_teams_of_0004_are_kept(settings: Settings) -> None:  # noqa: F811
    upgrade(settings, "0004")
    engine = create_engine(settings.sync_database_url)
    with engine.begin() as db:
        db.execute(
            text(
                "INSERT INTO teams (id, slug, name, created_at) VALUES ('t1', 'one', 'One', :now)"
            ),
            {"now": NOW},
        )
        for i in range(3):
            db.execute(
                text(
                    "INSERT INTO audit_events (team_id, actor, action, resource_type,"
                    " resource_id, details, ts) VALUES ('t1', 'ann', 'key.create', 'api_key',"
                    " :rid, '{}', :now)"
                ),
                {"rid": f"k{i}", "now": NOW},
            )
    upgrade(settings)
    with engine.connect() as db:
        rows = db.execute(
            text(
                "SELECT resource_id, outcome, user_id, key_id, address, status_code"
                " FROM audit_events ORDER BY id"
            )
        ).all()
        assert [tuple(r) for r in rows] == [
            (f"k{i}", "ok", None, None, None, None) for i in range(3)
        ]
        limits = db.execute(
            text("SELECT rate_limit_rpm, max_running_tasks, daily_token_quota FROM teams")
        ).one()
        assert tuple(limits) == (None, None, None)
        assert db.execute(text("SELECT COUNT(*) FROM rate_counters")).scalar() == 0
        diff = compare_metadata(MigrationContext.configure(db), Base.metadata)
    engine.dispose()
    assert diff == []
    command.downgrade(alembic_config(settings), "0004")
    engine = create_engine(settings.sync_database_url)
    with engine.connect() as db:
        assert db.execute(text("SELECT COUNT(*) FROM audit_events")).scalar() == 3
    engine.dispose()
