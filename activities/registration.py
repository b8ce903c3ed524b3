"""Create the task row of a workflow that was started without one (a schedule's run)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from activities.types import TaskRegistration
from cape.db.events import append_event
from cape.db.models import Task
from cape.domain import Channel, EventType, TaskStatus


async def register_task(session: AsyncSession, task_id: str, reg: TaskRegistration) -> None:
    """Insert the task row and its `task-created` event unless a retry already did."""
    if await session.get(Task, task_id) is not None:
        return
    session.add(
        Task(
            id=task_id,
            agent=reg.agent,
            agent_version=reg.agent_version,
            owner=reg.owner,
            status=TaskStatus.QUEUED,
            input=reg.input,
            model=reg.model,
            max_steps=reg.max_steps,
            schedule_id=reg.schedule_id,
            usage={},
            last_seq=0,
        )
    )
    await session.flush()
    data = {
        "agent": reg.agent,
        "agent_version": reg.agent_version,
        "model": reg.model,
        "schedule_id": reg.schedule_id,
    }
    await append_event(
        session,
        task_id,
        channel=Channel.LIFECYCLE,
        type=EventType.TASK_CREATED,
        data=data,
        dedupe_key="task-created",
    )
