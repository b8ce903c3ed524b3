"""Schedule routes: create, list, get, update, pause, unpause, trigger, delete and their tasks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from api.deps import AdminDep, ReaderDep, ReadSessionsDep, SettingsDep, TemporalDep
from api.schedules.schemas import (
    ScheduleCreate,
    ScheduleNote,
    ScheduleOut,
    SchedulePage,
    SchedulePatch,
    ScheduleTrigger,
    TaskPage,
)
from api.schedules.service import (
    act,
    create_schedule,
    delete_owned,
    list_owned,
    owned,
    update_schedule,
)
from api.schedules.views import schedule_out, schedule_tasks

router = APIRouter(prefix="/schedules", tags=["schedules"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ScheduleOut)
async def create(
    body: ScheduleCreate,
    response: Response,
    reads: ReadSessionsDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: AdminDep,
) -> ScheduleOut:
    """Create a schedule that starts a task of `agent` with `input` at each run.

    Give exactly one of `cron` and `interval_seconds`. The input is validated against the
    agent's JSON Schema and the timing before anything is created (422 names each bad field);
    an `id` already in use is a 409.
    """
    desc = await create_schedule(reads, temporal, settings, principal, body)
    response.headers["Location"] = f"/v1/schedules/{desc.id}"
    return await schedule_out(temporal, settings, desc)


@router.get("", response_model=SchedulePage)
async def list_schedules(
    temporal: TemporalDep, settings: SettingsDep, principal: ReaderDep
) -> SchedulePage:
    """List the caller's schedules, newest first (a new schedule shows up within a second)."""
    descs = await list_owned(temporal, principal)
    return SchedulePage(items=[await schedule_out(temporal, settings, d) for d in descs])


@router.get("/{schedule_id}", response_model=ScheduleOut)
async def get_schedule(
    schedule_id: str, temporal: TemporalDep, settings: SettingsDep, principal: ReaderDep
) -> ScheduleOut:
    """A schedule: its task, timing, policy, state, next run times and recent runs."""
    return await schedule_out(temporal, settings, await owned(temporal, principal, schedule_id))


@router.patch("/{schedule_id}", response_model=ScheduleOut)
async def patch_schedule(
    schedule_id: str,
    body: SchedulePatch,
    reads: ReadSessionsDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: AdminDep,
) -> ScheduleOut:
    """Change the timing, the task's input, model or max_steps, the policy or the note."""
    desc = await update_schedule(reads, temporal, settings, principal, schedule_id, body)
    return await schedule_out(temporal, settings, desc)


@router.post("/{schedule_id}/pause", response_model=ScheduleOut)
async def pause(
    schedule_id: str,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: AdminDep,
    body: ScheduleNote | None = None,
) -> ScheduleOut:
    """Stop the schedule's runs until it is unpaused (a running task goes on)."""
    desc = await act(temporal, principal, schedule_id, "pause", body)
    return await schedule_out(temporal, settings, desc)


@router.post("/{schedule_id}/unpause", response_model=ScheduleOut)
async def unpause(
    schedule_id: str,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: AdminDep,
    body: ScheduleNote | None = None,
) -> ScheduleOut:
    """Resume the schedule's runs (runs missed while paused do not happen)."""
    desc = await act(temporal, principal, schedule_id, "unpause", body)
    return await schedule_out(temporal, settings, desc)


@router.post(
    "/{schedule_id}/trigger", status_code=status.HTTP_202_ACCEPTED, response_model=ScheduleOut
)
async def trigger(
    schedule_id: str,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: AdminDep,
    body: ScheduleTrigger | None = None,
) -> ScheduleOut:
    """Start a run now, paused or not; the overlap policy applies (`overlap` overrides it).

    The run starts asynchronously: it appears in `recent_actions` and the schedule's tasks
    within moments.
    """
    desc = await act(temporal, principal, schedule_id, "trigger", body)
    return await schedule_out(temporal, settings, desc)


@router.delete("/{schedule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_schedule(schedule_id: str, temporal: TemporalDep, principal: AdminDep) -> Response:
    """Delete the schedule; tasks it started (and any still running) are kept."""
    await delete_owned(temporal, principal, schedule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{schedule_id}/tasks", response_model=TaskPage)
async def list_schedule_tasks(
    schedule_id: str,
    reads: ReadSessionsDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: ReaderDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> TaskPage:
    """The tasks the schedule started, newest first (also after the schedule was deleted)."""
    return await schedule_tasks(reads, temporal, settings, principal, schedule_id, limit, cursor)
