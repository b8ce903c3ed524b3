"""The `task-assigned` event: the assigner's decision, kept in the task's event log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cape.assign.choose import Assignment
from cape.assign.offers import team_offers
from cape.contracts.task_input import Alternative
from cape.db.events import append_event
from cape.db.models import Task, TaskEvent
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


async def recorded_alternatives(session: AsyncSession, task: Task) -> list[Alternative]:
    """The other busy candidates of `task` as its `task-assigned` event recorded them.

    For a start made again without the `Assignment` at hand (the reconciler, a retried create or
    `prepare_delegation`): the list `Assignment.alternatives()` gave when the task was
    created (empty when its agent was available then, or it was started on a named agent),
    keeping only the candidates the team still offers for the capability at that complexity,
    with their offered version and `max_concurrent` now.
    """
    data = await assigned_for(session, task.id)
    if data is None:
        return []
    ranked = sorted(
        (c for c in data.get("candidates") or [] if c.get("rank") is not None),
        key=lambda c: int(c["rank"]),
    )
    if not ranked or ranked[0].get("available", True):
        return []
    capability, complexity = str(data.get("capability") or ""), data.get("complexity")
    offers = {
        o.agent: o
        for o in await team_offers(session, task.team_id)
        if capability in o.spec.capabilities and o.spec.complexity.contains(complexity)
    }
    found = []
    for candidate in ranked:  # all but the row's own agent (the first, unless it moved)
        offer = offers.get(str(candidate["agent"]))
        if offer is None or offer.agent == task.agent:
            continue
        if offer.spec.max_concurrent is not None:
            found.append(Alternative(offer.agent, offer.version, offer.spec.max_concurrent))
    return found
