"""The Alembic migrations build exactly the schema the models declare (no drift)."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

import cape.db.agent_models
import cape.db.event_models  # (registers the event tables)
import cape.db.instance_models  # (registers the instance tables)
import cape.db.lock_models  # (registers the locks table)
import cape.db.market_models  # noqa: F401  (registers the marketplace tables)
from cape.db.models import Base
from cape.settings import Settings
from migrations.apply import upgrade


def test_migrations_match_models(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    upgrade(settings)
    engine = create_engine(settings.sync_database_url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    # Server defaults are not compared by default; types, columns, indexes and tables are.
    assert diff == []
