"""`/v1/instances` and `/v1/runtime`: agent runtime instances (docs/instances.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

import api.instances.runtime as runtime_view
import api.instances.service as service
import api.instances.views as views
from api.deps import (
    ReaderDep,
    ReadSessionsDep,
    SessionDep,
    SettingsDep,
    TemporalDep,
    WriterDep,
    WriteSessionsDep,
)
from api.instances.schemas import (
    HistoryPage,
    InstanceCreate,
    InstanceOut,
    InstancePage,
    RuntimeOut,
    StateName,
)

router = APIRouter(prefix="/instances", tags=["instances"])
runtime_router = APIRouter(prefix="/runtime", tags=["instances"])
Cursor = Annotated[str | None, Query(max_length=512)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=InstanceOut)
async def create_instance(
    body: InstanceCreate,
    sessions: WriteSessionsDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: WriterDep,
) -> InstanceOut:
    """Create an instance: a long-lived agent that runs one task per event it subscribes to.

    The agent version (or range) is resolved now (404 or 409 when nothing may run) and again
    for each task, so a newer published version is used from the next task on. 409 when the
    team already has an instance of that name.
    """
    row = await service.create(sessions, temporal, settings, principal, body)
    return views.instance_out(row)


@router.get("", response_model=InstancePage)
async def list_instances(
    session: SessionDep,
    principal: ReaderDep,
    state: StateName | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Cursor = None,
) -> InstancePage:
    """The team's instances, newest first (their state as last saved)."""
    return await views.instance_page(session, principal.team_id, state, limit, cursor)


@router.get("/{instance_id}", response_model=InstanceOut)
async def get_instance(
    instance_id: str, reads: ReadSessionsDep, temporal: TemporalDep, principal: ReaderDep
) -> InstanceOut:
    """One instance now: state, counters, current tasks, inbox length and last error."""
    async with reads() as session:
        row = await service.owned_instance(session, principal.team_id, instance_id)
    return views.instance_out(row, await views.live(temporal, row))


@router.get("/{instance_id}/history", response_model=HistoryPage)
async def instance_history(
    instance_id: str,
    session: SessionDep,
    principal: ReaderDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Cursor = None,
) -> HistoryPage:
    """The events the instance handled, newest first: task, outcome, duration."""
    row = await service.owned_instance(session, principal.team_id, instance_id)
    return await views.history_page(session, row, limit, cursor)


async def _control(
    instance_id: str, action: str, reads: ReadSessionsDep, temporal: TemporalDep,
    settings: SettingsDep, principal: WriterDep, cancel: bool = False,
) -> InstanceOut:  # fmt: skip
    async with reads() as session:
        row = await service.owned_instance(session, principal.team_id, instance_id)
    state = await service.control(temporal, settings, principal, row, action, cancel)
    return views.instance_out(row, state)


@router.post("/{instance_id}/pause", response_model=InstanceOut)
async def pause_instance(
    instance_id: str, reads: ReadSessionsDep, temporal: TemporalDep, settings: SettingsDep,
    principal: WriterDep,
) -> InstanceOut:  # fmt: skip
    """Start nothing new; events keep arriving in the inbox, running tasks finish."""
    return await _control(instance_id, "pause", reads, temporal, settings, principal)


@router.post("/{instance_id}/resume", response_model=InstanceOut)
async def resume_instance(
    instance_id: str, reads: ReadSessionsDep, temporal: TemporalDep, settings: SettingsDep,
    principal: WriterDep,
) -> InstanceOut:  # fmt: skip
    """Run the inbox again, in order."""
    return await _control(instance_id, "resume", reads, temporal, settings, principal)


@router.post("/{instance_id}/stop", response_model=InstanceOut)
async def stop_instance(
    instance_id: str, reads: ReadSessionsDep, temporal: TemporalDep, settings: SettingsDep,
    principal: WriterDep,
    cancel: Annotated[bool, Query(description="Cancel the running tasks too.")] = False,
) -> InstanceOut:  # fmt: skip
    """Stop for good: no more events; running tasks finish (`?cancel=true`: are canceled)."""
    return await _control(instance_id, "stop", reads, temporal, settings, principal, cancel)


@router.post("/{instance_id}/recover", response_model=InstanceOut)
async def recover_instance(
    instance_id: str, reads: ReadSessionsDep, temporal: TemporalDep, settings: SettingsDep,
    principal: WriterDep,
) -> InstanceOut:  # fmt: skip
    """Leave `error`: the failure count starts again and the inbox runs (409 if not in error)."""
    return await _control(instance_id, "recover", reads, temporal, settings, principal)


@runtime_router.get("", response_model=RuntimeOut)
async def get_runtime(
    session: SessionDep, temporal: TemporalDep, settings: SettingsDep, principal: ReaderDep
) -> RuntimeOut:
    """Workers polling the task queue, the team's instances by state, the queue's backlog."""
    return await runtime_view.runtime(session, temporal, settings, principal.team_id)
