"""Create the task row of a workflow that was started without one (a schedule's run).

The row and its event are built by `cape.tasks`, as the API's are; a later worker-side start
(triggers, delegation) adds its row the same way (docs/architecture.md).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from cape.contracts.task_input import TaskRegistration
from cape.db.models import Task
from cape.tasks.rows import NewTask, add_task


async def register_task(session: AsyncSession, task_id: str, reg: TaskRegistration) -> None:
    """Insert the task row and its `task-created` event unless a retry already did."""
    if await session.get(Task, task_id) is not None:
        return
    await add_task(session, NewTask.registered(task_id, reg), {"schedule_id": reg.schedule_id})
