"""Scheduled events: a Temporal Schedule whose runs publish an event (docs/events.md).

Each run starts `EventRoutingWorkflow` with no event id and an `EventRegistration`: the run's
workflow id (`sev-<schedule id>-<run time>`) becomes the event id and the routing activity
adds the event's row first, as a schedule's task run registers its task row. These schedules
carry `kind: event` in their memo, so `/v1/schedules` (agent tasks) does not list them.
"""

from __future__ import annotations

from temporalio.api.common.v1 import Payload
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleDescription,
    ScheduleState,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from api.events.schemas import EventScheduleCreate, EventScheduleOut
from api.schedules.schemas import check_timing, new_schedule_id
from api.schedules.service import temporal_errors
from cape.auth import Principal
from cape.contracts.events import EventRegistration, RouteEventInput
from cape.contracts.temporal import OWNER_KEY, TEAM_KEY
from cape.errors import NotFound
from cape.events.start import routing_start
from cape.settings import Settings
from workflows.event_routing import EventRoutingWorkflow

KIND = "event"
RUN_PREFIX = "sev-"


def _not_found(schedule_id: str) -> NotFound:
    return NotFound(f"schedule {schedule_id!r} not found", details={"schedule_id": schedule_id})


async def create(
    temporal: Client, settings: Settings, principal: Principal, body: EventScheduleCreate
) -> ScheduleDescription:
    """Create the schedule (422 names each bad timing field; 409 if the id is taken)."""
    spec = check_timing(body)
    schedule_id = body.id or new_schedule_id()
    reg = EventRegistration(
        team_id=principal.team_id, published_by=principal.owner, type=body.type,
        data=body.data, priority=body.priority, schedule_id=schedule_id,
    )  # fmt: skip
    start = routing_start("", body.priority, settings.task_queue)
    action = ScheduleActionStartWorkflow(
        EventRoutingWorkflow.run,
        RouteEventInput("", reg),
        id=f"{RUN_PREFIX}{schedule_id}",
        task_queue=start.task_queue,
        priority=start.priority,
        memo={"team": principal.team_id, "kind": KIND},
        static_summary=f"scheduled event {body.type}",
    )
    attributes = [SearchAttributePair(OWNER_KEY, principal.owner),
                  SearchAttributePair(TEAM_KEY, principal.team_id)]  # fmt: skip
    with temporal_errors(schedule_id, body):
        handle = await temporal.create_schedule(
            schedule_id,
            Schedule(action=action, spec=spec, state=ScheduleState(paused=body.paused)),
            memo={"owner": principal.owner, "team": principal.team_id, "kind": KIND},
            search_attributes=TypedSearchAttributes(attributes),
        )
        return await handle.describe()


async def owned(temporal: Client, principal: Principal, schedule_id: str) -> ScheduleDescription:
    """The team's event schedule, else 404 (an agent schedule or another team's too)."""
    with temporal_errors(schedule_id):
        desc = await temporal.get_schedule_handle(schedule_id).describe()
        memo = await desc.memo()
    if memo.get("team") != principal.team_id or memo.get("kind") != KIND:
        raise _not_found(schedule_id)
    return desc


async def listed(temporal: Client, principal: Principal) -> list[ScheduleDescription]:
    """The team's event schedules (the listing is eventually consistent)."""
    found = []
    with temporal_errors(""):
        async for entry in await temporal.list_schedules(f"CapeTeam='{principal.team_id}'"):
            memo = await entry.memo()
            if memo.get("team") == principal.team_id and memo.get("kind") == KIND:
                found.append(await temporal.get_schedule_handle(entry.id).describe())
    return found


async def delete(temporal: Client, principal: Principal, schedule_id: str) -> None:
    """Delete the team's event schedule."""
    await owned(temporal, principal, schedule_id)
    with temporal_errors(schedule_id):
        await temporal.get_schedule_handle(schedule_id).delete()


async def schedule_out(temporal: Client, desc: ScheduleDescription) -> EventScheduleOut:
    """The API view: the event each run publishes, and when."""
    action = desc.schedule.action
    payloads = [a for a in getattr(action, "args", []) if isinstance(a, Payload)]
    inp = None
    if len(payloads) == 1:
        [inp] = await temporal.data_converter.decode(payloads, [RouteEventInput])
    if not isinstance(inp, RouteEventInput) or inp.registration is None:
        raise _not_found(desc.id)  # not one of ours
    reg = inp.registration
    return EventScheduleOut(
        id=desc.id, type=reg.type, data=reg.data, priority=reg.priority,
        paused=desc.schedule.state.paused, next_run_times=desc.info.next_action_times[:5],
        runs=desc.info.num_actions,
    )  # fmt: skip
