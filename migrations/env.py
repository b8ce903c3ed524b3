"""Alembic environment: the URL comes from Settings only (or the caller's config)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

import cape.db.agent_models  # (registers the registry tables)
import cape.db.event_models  # (registers the event tables)
import cape.db.instance_models  # (registers the instance tables)
import cape.db.lock_models  # (registers the locks table)
import cape.db.market_models  # noqa: F401  (registers the marketplace tables)
from cape.db.models import Base
from cape.settings import Settings

config = context.config
url = config.attributes.get("database_url") or Settings().sync_database_url


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
