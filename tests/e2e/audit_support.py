"""Helpers of the audit and limit tests: team limits and task usage set in the database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update

from cape.db.engine import create_engine, session_factory
from cape.db.models import AuditEvent, Task, Team
from cape.settings import Settings


async def set_team_limits(settings: Settings, team_id: str, **limits: int | None) -> None:
    """Give team `team_id` its own limits (columns of `teams`), as an operator would."""
    await _execute(settings, update(Team).where(Team.id == team_id).values(**limits))


async def set_usage(settings: Settings, task_id: str, prompt: int, completion: int) -> None:
    """Store a task's token usage the way the worker's usage step writes it."""
    values = {"prompt_tokens": prompt, "completion_tokens": completion}
    await _execute(settings, update(Task).where(Task.id == task_id).values(**values))


async def audit_count(settings: Settings, team_id: str) -> int:
    """How many audit entries team `team_id` has."""
    engine = create_engine(settings)
    try:
        async with session_factory(engine)() as session:
            query = select(func.count()).select_from(AuditEvent)
            return int(await session.scalar(query.where(AuditEvent.team_id == team_id)) or 0)
    finally:
        await engine.dispose()


async def _execute(settings: Settings, statement: Any) -> None:
    engine = create_engine(settings)
    try:
        async with session_factory(engine)() as session:
            await session.execute(statement)
            await session.commit()
    finally:
        await engine.dispose()
