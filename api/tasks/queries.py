"""Reading tasks: the caller's task, a page of tasks, a task's steps."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.pagination import decode_cursor, encode_cursor
from cape.auth import Principal
from cape.db.models import Task, TaskStep
from cape.domain import TaskStatus
from cape.errors import NotFound


async def owned_task(session: AsyncSession, principal: Principal, task_id: str) -> Task:
    """The caller's team's task, or 404 (another team's task is not revealed)."""
    task = await session.get(Task, task_id, populate_existing=True)
    if task is None or task.team_id != principal.team_id:
        raise NotFound(f"task {task_id!r} not found", details={"task_id": task_id})
    return task


async def load_owned_task(
    sessions: async_sessionmaker[AsyncSession], principal: Principal, task_id: str
) -> Task:
    """`owned_task` in a session of its own, closed on return (the row stays readable)."""
    async with sessions() as session:
        return await owned_task(session, principal, task_id)


def task_filters(
    team_id: str, status: TaskStatus | None = None, agent: str | None = None
) -> list[ColumnElement[bool]]:
    """The conditions of a listing: the team's tasks, optionally of one status and agent."""
    filters = [Task.team_id == team_id]
    if status is not None:
        filters.append(Task.status == status)
    if agent is not None:
        filters.append(Task.agent == agent)
    return filters


@dataclass(frozen=True)
class Page:
    """One page of task rows and the cursor of the next (None: the last page)."""

    rows: list[Task]
    next_cursor: str | None


async def task_page(
    session: AsyncSession,
    filters: list[ColumnElement[bool]],
    limit: int,
    cursor: str | None,
) -> Page:
    """The tasks matching `filters`, newest first, after `cursor`."""
    query = select(Task).where(*filters)
    if cursor is not None:
        created, task_id = decode_cursor(cursor)
        query = query.where(
            or_(Task.created_at < created, and_(Task.created_at == created, Task.id < task_id))
        )
    rows = list(
        await session.scalars(
            query.order_by(Task.created_at.desc(), Task.id.desc()).limit(limit + 1)
        )
    )
    if len(rows) <= limit:
        return Page(rows, None)
    rows = rows[:limit]
    return Page(rows, encode_cursor(rows[-1].created_at, rows[-1].id))


async def task_steps(session: AsyncSession, task_id: str) -> list[TaskStep]:
    """The task's steps in order."""
    query = select(TaskStep).where(TaskStep.task_id == task_id).order_by(TaskStep.step_no)
    return list(await session.scalars(query))
