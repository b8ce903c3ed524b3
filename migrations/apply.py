"""Apply Alembic migrations programmatically (used by `cape dev`, `cape migrate`, tests).

It lives beside the scripts it runs: they import the core's table definitions, so the core
(`cape/`) never imports this package.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from cape.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent


def alembic_config(settings: Settings) -> Config:
    """An Alembic config pointing at the packaged migrations and the settings' database."""
    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = settings.sync_database_url
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Bring the database to `revision` (creating the SQLite directory when needed)."""
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings), revision)
