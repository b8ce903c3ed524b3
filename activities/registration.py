"""Create the task row of a workflow that was started without one (a schedule's run)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from activities.types import TaskRegistration
from cape.db.models import Task
from cape.tasks.rows import NewTask, add_task


async def register_task(session: AsyncSession, task_id: str, reg: TaskRegistration) -> None:
    """Insert the task row and its `task-created` event unless a retry already did."""
    if await session.get(Task, task_id) is not None:
        return
    new = NewTask(
        id=task_id,
        agent=reg.agent,
        agent_version=reg.agent_version,
        owner=reg.owner,
        input=reg.input,
        model=reg.model,
        max_steps=reg.max_steps,
        schedule_id=reg.schedule_id,
    )
    await add_task(session, new, {"schedule_id": reg.schedule_id})
