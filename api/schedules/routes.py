"""Schedule routes: create, list, get, update, pause, unpause, trigger, delete and their tasks."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from sqlalchemy import and_, or_, select
from temporalio.client import Client, ScheduleActionExecutionStartWorkflow, ScheduleDescription

from api.deps import PrincipalDep, SessionDep, SettingsDep, TemporalDep
from api.schedules.schemas import (
    ScheduleActionOut,
    ScheduleCreate,
    ScheduleNote,
    ScheduleOut,
    SchedulePage,
    SchedulePatch,
    ScheduleStateOut,
    ScheduleTrigger,
    overlap_name,
    overlap_policy,
    timing_of,
)
from api.schedules.service import (
    NEXT_RUNS,
    create_schedule,
    decode,
    list_owned,
    owned,
    temporal_errors,
    update_schedule,
)
from api.tasks.routes import decode_cursor, release, task_out
from api.tasks.schemas import TaskPage
from cape.auth import Principal
from cape.db.models import Task
from cape.settings import Settings

router = APIRouter(prefix="/schedules", tags=["schedules"])


async def schedule_out(
    temporal: Client, settings: Settings, desc: ScheduleDescription
) -> ScheduleOut:
    """The API view of a schedule's description."""
    current = await decode(temporal, desc)
    reg, policy, info = current.registration, desc.schedule.policy, desc.info
    base = f"{settings.base_url}/v1/schedules/{desc.id}"
    catchup = policy.catchup_window.total_seconds() if policy.catchup_window else 0
    return ScheduleOut(
        id=desc.id, owner=reg.owner, agent=reg.agent, agent_version=reg.agent_version,
        model=reg.model, max_steps=reg.max_steps, input=reg.input,
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


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ScheduleOut)
async def create(
    body: ScheduleCreate,
    response: Response,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: PrincipalDep,
) -> ScheduleOut:
    """Create a schedule that starts a task of `agent` with `input` at each run.

    Give exactly one of `cron` and `interval_seconds`. The input is validated against the
    agent's JSON Schema and the timing before anything is created (422 names each bad field);
    an `id` already in use is a 409.
    """
    desc = await create_schedule(session, temporal, settings, principal, body)
    response.headers["Location"] = f"/v1/schedules/{desc.id}"
    return await schedule_out(temporal, settings, desc)


@router.get("", response_model=SchedulePage)
async def list_schedules(
    temporal: TemporalDep, settings: SettingsDep, principal: PrincipalDep
) -> SchedulePage:
    """List the caller's schedules, newest first (a new schedule shows up within a second)."""
    descs = await list_owned(temporal, principal)
    return SchedulePage(items=[await schedule_out(temporal, settings, d) for d in descs])


@router.get("/{schedule_id}", response_model=ScheduleOut)
async def get_schedule(
    schedule_id: str, temporal: TemporalDep, settings: SettingsDep, principal: PrincipalDep
) -> ScheduleOut:
    """A schedule: its task, timing, policy, state, next run times and recent runs."""
    return await schedule_out(temporal, settings, await owned(temporal, principal, schedule_id))


@router.patch("/{schedule_id}", response_model=ScheduleOut)
async def patch_schedule(
    schedule_id: str,
    body: SchedulePatch,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: PrincipalDep,
) -> ScheduleOut:
    """Change the timing, the task's input, model or max_steps, the policy or the note."""
    desc = await update_schedule(session, temporal, settings, principal, schedule_id, body)
    return await schedule_out(temporal, settings, desc)


async def _act(
    temporal: Client, settings: Settings, principal: Principal, schedule_id: str, action: str,
    body: ScheduleNote | ScheduleTrigger | None,
) -> ScheduleOut:  # fmt: skip
    await owned(temporal, principal, schedule_id)
    handle = temporal.get_schedule_handle(schedule_id)
    with temporal_errors(schedule_id):
        if action == "pause":
            note = body.note if isinstance(body, ScheduleNote) else None
            await handle.pause(note=note or f"paused by {principal.owner}")
        elif action == "unpause":
            note = body.note if isinstance(body, ScheduleNote) else None
            await handle.unpause(note=note or f"unpaused by {principal.owner}")
        else:
            overlap = body.overlap if isinstance(body, ScheduleTrigger) else None
            await handle.trigger(overlap=overlap_policy(overlap) if overlap else None)
        desc = await handle.describe()
    return await schedule_out(temporal, settings, desc)


@router.post("/{schedule_id}/pause", response_model=ScheduleOut)
async def pause(
    schedule_id: str,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    body: ScheduleNote | None = None,
) -> ScheduleOut:
    """Stop the schedule's runs until it is unpaused (a running task goes on)."""
    return await _act(temporal, settings, principal, schedule_id, "pause", body)


@router.post("/{schedule_id}/unpause", response_model=ScheduleOut)
async def unpause(
    schedule_id: str,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    body: ScheduleNote | None = None,
) -> ScheduleOut:
    """Resume the schedule's runs (runs missed while paused do not happen)."""
    return await _act(temporal, settings, principal, schedule_id, "unpause", body)


@router.post(
    "/{schedule_id}/trigger", status_code=status.HTTP_202_ACCEPTED, response_model=ScheduleOut
)
async def trigger(
    schedule_id: str,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    body: ScheduleTrigger | None = None,
) -> ScheduleOut:
    """Start a run now, paused or not; the overlap policy applies (`overlap` overrides it).

    The run starts asynchronously: it appears in `recent_actions` and the schedule's tasks
    within moments.
    """
    return await _act(temporal, settings, principal, schedule_id, "trigger", body)


@router.delete("/{schedule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_schedule(
    schedule_id: str, temporal: TemporalDep, principal: PrincipalDep
) -> Response:
    """Delete the schedule; tasks it started (and any still running) are kept."""
    await owned(temporal, principal, schedule_id)
    with temporal_errors(schedule_id):
        await temporal.get_schedule_handle(schedule_id).delete()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{schedule_id}/tasks", response_model=TaskPage)
async def schedule_tasks(
    schedule_id: str,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> TaskPage:
    """The tasks the schedule started, newest first (also after the schedule was deleted)."""
    query = select(Task).where(Task.owner == principal.owner, Task.schedule_id == schedule_id)
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
    await release(session)
    if not rows and cursor is None:
        await owned(temporal, principal, schedule_id)  # none yet, or no such schedule: 404
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        raw = f"{rows[-1].created_at.isoformat()}|{rows[-1].id}"
        next_cursor = base64.urlsafe_b64encode(raw.encode()).decode()
    return TaskPage(items=[task_out(t, settings) for t in rows], next_cursor=next_cursor)
