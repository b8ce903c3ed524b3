"""The API view of a schedule, and the page of tasks its runs started."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, ScheduleActionExecutionStartWorkflow, ScheduleDescription

from api.schedules.action import decode
from api.schedules.schemas import (
    ScheduleActionOut,
    ScheduleOut,
    ScheduleStateOut,
    overlap_name,
    timing_of,
)
from api.schedules.service import NEXT_RUNS, owned
from api.tasks.queries import task_page
from api.tasks.schemas import TaskPage
from api.tasks.views import task_out
from cape.auth import Principal
from cape.db.models import Task
from cape.safe_text import clean
from cape.settings import Settings


async def schedule_out(
    temporal: Client, settings: Settings, desc: ScheduleDescription
) -> ScheduleOut:
    """The API view of a schedule's description.

    Its input is cleaned: a schedule stored before input was checked may hold a lone surrogate,
    which no JSON response can carry.
    """
    current = await decode(temporal, desc)
    reg, policy, info = current.registration, desc.schedule.policy, desc.info
    base = f"{settings.base_url}/v1/schedules/{desc.id}"
    catchup = policy.catchup_window.total_seconds() if policy.catchup_window else 0
    return ScheduleOut(
        id=desc.id, owner=reg.owner, agent=reg.agent, agent_version=reg.agent_version,
        model=reg.model, max_steps=reg.max_steps, input=clean(reg.input),
        spec=timing_of(desc.schedule.spec, current.cron),
        overlap=overlap_name(policy.overlap), catchup_window_seconds=round(catchup),
        state=ScheduleStateOut(paused=desc.schedule.state.paused, note=desc.schedule.state.note),
        next_run_times=list(info.next_action_times[:NEXT_RUNS]),
        recent_actions=[
            ScheduleActionOut(
                task_id=a.action.workflow_id, scheduled_at=a.scheduled_at, started_at=a.started_at
            )
            for a in info.recent_actions
            if isinstance(a.action, ScheduleActionExecutionStartWorkflow)
        ],
        running_task_ids=[
            r.workflow_id
            for r in info.running_actions
            if isinstance(r, ScheduleActionExecutionStartWorkflow)
        ],
        num_actions=info.num_actions, created_at=info.created_at,
        updated_at=info.last_updated_at, links={"self": base, "tasks": f"{base}/tasks"},
    )  # fmt: skip


async def schedule_tasks(
    reads: async_sessionmaker[AsyncSession],
    temporal: Client,
    settings: Settings,
    principal: Principal,
    schedule_id: str,
    limit: int,
    cursor: str | None,
) -> TaskPage:
    """The tasks the schedule started, newest first (also after the schedule was deleted)."""
    filters = [Task.team_id == principal.team_id, Task.schedule_id == schedule_id]
    async with reads() as session:  # closed before Temporal is asked
        page = await task_page(session, filters, limit, cursor)
    if not page.rows and cursor is None:
        await owned(temporal, principal, schedule_id)  # none yet, or no such schedule: 404
    return TaskPage(items=[task_out(t, settings) for t in page.rows], next_cursor=page.next_cursor)
