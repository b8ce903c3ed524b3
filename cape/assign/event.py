"""The `task-assigned` event: the assigner's decision, kept in the task's event log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cape.assign.choose import Assignment
from cape.db.events import append_event
from cape.db.models import TaskEvent
from cape.domain import Channel, EventType


async def record_assignment(session: AsyncSession, task_id: str, assignment: Assignment) -> None:
    """Add the `task-assigned` event of `task_id` to the caller's transaction (once per task).

    Its data: `capability`, `complexity`, the chosen `agent` and `agent_version`, the `reason`
    in words and every `candidates` entry (`Candidate.to_data`).
    """
    await append_event(
        session,
        task_id,
        channel=Channel.LIFECYCLE,
        type=EventType.TASK_ASSIGNED,
        data=assignment.to_data(),
        dedupe_key="task-assigned",
    )


async def assigned_for(session: AsyncSession, task_id: str) -> dict[str, Any] | None:
    """The data of the task's `task-assigned` event (None for a task started on an agent)."""
    data = await session.scalar(
        select(TaskEvent.data).where(
            TaskEvent.task_id == task_id, TaskEvent.type == EventType.TASK_ASSIGNED
        )
    )
    return dict(data) if data is not None else None
