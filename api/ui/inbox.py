"""The approvals inbox's query: the team's tasks waiting for an answer, oldest first."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cape.auth import Principal
from cape.db.models import Task
from cape.domain import TaskStatus

INBOX_LIMIT = 200


async def waiting_tasks(session: AsyncSession, principal: Principal) -> list[Task]:
    """Up to INBOX_LIMIT of the team's `input_required` tasks, the longest waiting first."""
    query = (
        select(Task)
        .where(Task.team_id == principal.team_id, Task.status == TaskStatus.INPUT_REQUIRED)
        .order_by(Task.created_at, Task.id)
        .limit(INBOX_LIMIT)
    )
    return [task for task in await session.scalars(query) if task.pending_input]
