"""Helpers of the JWT and session tests: rows as the database holds them, keys revoked in it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select, update

from cape.auth import hash_key
from cape.db.engine import create_engine, session_factory
from cape.db.models import ApiKey, Task
from cape.settings import Settings
from cape.teams import personal_team_id


async def task_count(settings: Settings, owner: str) -> int:
    """How many task rows the team of `owner` has (its own team, as `new_api_key` makes it)."""
    engine = create_engine(settings)
    try:
        async with session_factory(engine)() as session:
            team = Task.team_id == personal_team_id(owner)
            query = select(func.count()).select_from(Task).where(team)
            return int(await session.scalar(query) or 0)
    finally:
        await engine.dispose()


async def revoke(settings: Settings, key: str) -> None:
    """Revoke API key `key` the way `cape keys revoke` will: set `revoked_at`."""
    engine = create_engine(settings)
    try:
        async with session_factory(engine)() as session:
            await session.execute(
                update(ApiKey)
                .where(ApiKey.key_hash == hash_key(key))
                .values(revoked_at=datetime.now(UTC))
            )
            await session.commit()
    finally:
        await engine.dispose()


def task_body(prompt: str = "hello") -> dict[str, object]:
    """A task for the built-in assistant (no worker needed: it stays queued)."""
    return {"agent": "assistant", "input": {"prompt": prompt}}
