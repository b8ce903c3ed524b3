"""Migration 0011 keeps the tasks of release 0010, on SQLite and PostgreSQL.

Tasks are written at revision 0010, the database is upgraded to head: they read back with one
run, no pause asked for and no deadline; a new row stores all three, and the schema is exactly
what the models declare. The downgrade to 0010 keeps the rows.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from cape.db.models import Base
from cape.settings import Settings
from migrations.apply import alembic_config
from tests.test_migration_teams import settings  # noqa: F401  (the SQLite and PostgreSQL fixture)
from tests.test_migration_trace_id import rows_across

pytestmark = pytest.mark.database
DEADLINE = datetime(2026, 12, 6, 13, 0, tzinfo=UTC)


def test_tasks_of_0010_get_one_run_no_pause_and_no_deadline(settings: Settings) -> None:  # noqa: F811
    update = text(
        "UPDATE tasks SET runs = 3, pause_requested = :yes, deadline = :at WHERE id = 't2'"
    )
    engine = rows_across(settings, "0010", update, yes=True, at=DEADLINE)
    with engine.connect() as db:
        rows = db.execute(
            text("SELECT id, runs, pause_requested, deadline IS NULL FROM tasks ORDER BY id")
        ).all()
        assert [tuple(r) for r in rows] == [
            ("t0", 1, False, True),
            ("t1", 1, False, True),
            ("t2", 3, True, False),
        ]
        diff = compare_metadata(MigrationContext.configure(db), Base.metadata)
    engine.dispose()
    assert diff == []
    command.downgrade(alembic_config(settings), "0010")
    engine = create_engine(settings.sync_database_url)
    with engine.connect() as db:
        assert db.execute(text("SELECT COUNT(*) FROM tasks")).scalar() == 3
    engine.dispose()
