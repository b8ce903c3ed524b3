"""Scheduled event routes: create, list and delete schedules that publish events."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.deps import AdminDep, ReaderDep, SettingsDep, TemporalDep
from api.events.schedules import create, delete, listed, owned, schedule_out
from api.events.schemas import EventScheduleCreate, EventScheduleOut

router = APIRouter(prefix="/events/schedules", tags=["events"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=EventScheduleOut)
async def create_event_schedule(
    body: EventScheduleCreate, temporal: TemporalDep, settings: SettingsDep, principal: AdminDep
) -> EventScheduleOut:
    """Publish an event of `type` with `data` at each run (`cron` or `interval_seconds`).

    Each run's event is routed like a published one; its id is `sev-<id>-<run time>` and its
    `source` is `schedule:<id>`.
    """
    return await schedule_out(temporal, await create(temporal, settings, principal, body))


@router.get("", response_model=list[EventScheduleOut])
async def list_event_schedules(
    temporal: TemporalDep, principal: ReaderDep
) -> list[EventScheduleOut]:
    """The team's event schedules (a new one shows up within a second)."""
    return [await schedule_out(temporal, d) for d in await listed(temporal, principal)]


@router.get("/{schedule_id}", response_model=EventScheduleOut)
async def get_event_schedule(
    schedule_id: str, temporal: TemporalDep, principal: ReaderDep
) -> EventScheduleOut:
    """One event schedule."""
    return await schedule_out(temporal, await owned(temporal, principal, schedule_id))


@router.delete("/{schedule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_event_schedule(
    schedule_id: str, temporal: TemporalDep, principal: AdminDep
) -> Response:
    """Delete an event schedule: no more runs."""
    await delete(temporal, principal, schedule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
