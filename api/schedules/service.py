"""Schedule operations on Temporal Schedules: create, update, list and find the caller's."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import (
    Client,
    Schedule,
    ScheduleAlreadyRunningError,
    ScheduleDescription,
    SchedulePolicy,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from api.schedules.action import build_action, decode, not_found
from api.schedules.schemas import (
    SCHEDULE_ID_PATTERN,
    ScheduleCreate,
    ScheduleNote,
    SchedulePatch,
    ScheduleTrigger,
    Timing,
    check_timing,
    merged_timing,
    new_schedule_id,
    overlap_policy,
    refuse,
    timing_of,
    timing_problems,
)
from cape.auth import Principal
from cape.contracts.task_input import TaskRegistration
from cape.contracts.temporal import AGENT_KEY, OWNER_KEY, TEAM_KEY
from cape.errors import Conflict, InvalidInput, NotFound, Unavailable
from cape.registry.resolve import load_spec, resolve_agent
from cape.registry.validate import input_problems
from cape.settings import Settings
from cape.tasks.workflow_input import scheduled_input
from cape.teams import DEFAULT_TEAM_ID

log = structlog.get_logger(__name__)
NEXT_RUNS = 5
DESCRIBE_CONCURRENCY = 8  # a listing describes each schedule for its full view
# Owners outside this alphabet are listed by memo instead of a visibility query (no escaping).
_QUERYABLE_OWNER = re.compile(r"[A-Za-z0-9_.@:+-]{1,128}")


@contextmanager
def temporal_errors(schedule_id: str, timing: Timing | None = None) -> Iterator[None]:
    """Turn Temporal's answers into API errors: 404, 409, 422 (a spec it rejects) or 503."""
    try:
        yield
    except ScheduleAlreadyRunningError:
        raise Conflict(
            f"schedule {schedule_id!r} already exists", details={"schedule_id": schedule_id}
        ) from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise not_found(schedule_id) from None
        if exc.status == RPCStatusCode.INVALID_ARGUMENT and timing is not None:
            zone = "time zone" in exc.message
            field = "body.timezone" if zone else "body.cron" if timing.cron else "body"
            raise InvalidInput(
                f"invalid request: {field}", details=[{"field": field, "message": exc.message}]
            ) from None
        raise _unavailable(exc) from exc
    except RuntimeError as exc:
        # A lazy client that never reached Temporal fails its first call with this, not RPCError.
        if not str(exc).startswith("Failed client connect"):
            raise
        raise _unavailable(exc) from exc


def _unavailable(exc: Exception) -> Unavailable:
    return Unavailable("the Temporal service is unavailable; retry shortly", details=str(exc))


# --- operations -----------------------------------------------------------------------------


async def owned(temporal: Client, principal: Principal, schedule_id: str) -> ScheduleDescription:
    """The caller's team's schedule, or 404 (another team's schedule is not revealed)."""
    if re.fullmatch(SCHEDULE_ID_PATTERN, schedule_id) is None:
        raise not_found(schedule_id)
    with temporal_errors(schedule_id):
        desc = await temporal.get_schedule_handle(schedule_id).describe()
        memo = await desc.memo()
    if team_of(memo) != principal.team_id:
        raise not_found(schedule_id)
    return desc


async def create_schedule(
    reads: async_sessionmaker[AsyncSession],
    temporal: Client,
    settings: Settings,
    principal: Principal,
    body: ScheduleCreate,
) -> ScheduleDescription:
    """Validate the request and create the Temporal schedule; 409 if the id is taken.

    The agent's version is resolved now (`agent_version` or the default) and pinned: every run
    uses it, as a task started by the API would.
    """
    async with reads() as session:  # closed before Temporal is asked
        resolved = await resolve_agent(session, principal, body.agent, body.agent_version)
    agent = resolved.spec
    # Every problem at once: the input, the budget and the timing.
    problems = input_problems(agent.input_schema, body.input)
    ceiling = agent.limits.max_steps
    if body.max_steps is not None and body.max_steps > ceiling:
        message = f"at most {ceiling}, the ceiling of {agent.name}@{resolved.version}"
        problems.append({"field": "body.max_steps", "message": message})
    refuse(problems + timing_problems(body))
    spec = check_timing(body)
    schedule_id = body.id or new_schedule_id()
    reg = TaskRegistration(
        owner=principal.owner,
        team_id=principal.team_id,
        agent=agent.name,
        agent_version=resolved.version,
        model=body.model or agent.model.name or settings.default_model,
        # The same default as POST /v1/tasks: CAPE_MAX_STEPS, never above the agent's ceiling.
        max_steps=body.max_steps or min(ceiling, settings.max_steps),
        input=body.input,
        schedule_id=schedule_id,
    )
    cron = spec.cron_expressions[0] if spec.cron_expressions else None
    inp = scheduled_input(settings, reg, agent)
    schedule = Schedule(
        action=build_action(inp, schedule_id, settings.task_queue, cron),
        spec=spec,
        policy=SchedulePolicy(
            overlap=overlap_policy(body.overlap),
            catchup_window=timedelta(seconds=body.catchup_window_seconds),
        ),
        state=ScheduleState(paused=body.paused, note=body.note),
    )
    attributes = [
        SearchAttributePair(k, v)
        for k, v in ((OWNER_KEY, reg.owner), (AGENT_KEY, reg.agent), (TEAM_KEY, reg.team_id))
    ]
    with temporal_errors(schedule_id, body):
        handle = await temporal.create_schedule(
            schedule_id,
            schedule,
            memo={"owner": reg.owner, "agent": reg.agent, "team": reg.team_id},
            search_attributes=TypedSearchAttributes(attributes),
        )
        desc = await handle.describe()
    log.info("schedule created", schedule_id=schedule_id, agent=agent.name, owner=reg.owner)
    return desc


async def update_schedule(
    reads: async_sessionmaker[AsyncSession],
    temporal: Client,
    settings: Settings,
    principal: Principal,
    schedule_id: str,
    patch: SchedulePatch,
) -> ScheduleDescription:
    """Apply `patch` to the caller's schedule (timing, task, policy, note) and describe it."""
    desc = await owned(temporal, principal, schedule_id)
    current = await decode(temporal, desc)
    timing = merged_timing(timing_of(desc.schedule.spec, current.cron), patch)
    problems = timing_problems(timing)
    inp = current.action
    if patch.input is not None or patch.model is not None or patch.max_steps is not None:
        pinned = current.registration
        async with reads() as session:
            agent = await load_spec(session, pinned.agent, pinned.agent_version)
        reg = dataclasses.replace(
            pinned,
            input=pinned.input if patch.input is None else patch.input,
            model=patch.model or pinned.model,
            max_steps=patch.max_steps or pinned.max_steps,
        )
        refuse(input_problems(agent.input_schema, reg.input) + problems)
        inp = scheduled_input(settings, reg, agent)
    spec = check_timing(timing)
    cron = spec.cron_expressions[0] if spec.cron_expressions else None
    action = build_action(inp, schedule_id, current.task_queue, cron)

    def updater(update: ScheduleUpdateInput) -> ScheduleUpdate:
        # May run more than once (Temporal's conflict loop): it only assigns precomputed values.
        schedule = update.description.schedule
        schedule.spec, schedule.action = spec, action
        if patch.overlap is not None:
            schedule.policy.overlap = overlap_policy(patch.overlap)
        if patch.catchup_window_seconds is not None:
            schedule.policy.catchup_window = timedelta(seconds=patch.catchup_window_seconds)
        if "note" in patch.model_fields_set:
            schedule.state.note = patch.note
        return ScheduleUpdate(schedule=schedule)

    handle = temporal.get_schedule_handle(schedule_id)
    with temporal_errors(schedule_id, timing):
        await handle.update(updater)
        desc = await handle.describe()
    log.info("schedule updated", schedule_id=schedule_id, fields=sorted(patch.model_fields_set))
    return desc


async def list_owned(temporal: Client, principal: Principal) -> list[ScheduleDescription]:
    """The team's schedules, newest first (the listing is eventually consistent).

    Schedules are found by their `CapeTeam` search attribute and checked by their memo's
    `team`; those made before teams have neither and belong to the default team, which
    therefore lists without the query.
    """
    team = principal.team_id
    legacy = team == DEFAULT_TEAM_ID
    query = None if legacy or not _QUERYABLE_OWNER.fullmatch(team) else f"CapeTeam='{team}'"
    ids: list[str] = []
    with temporal_errors(""):
        async for entry in await temporal.list_schedules(query):
            memo = await entry.memo()
            # Schedules that publish events are listed under /v1/events/schedules.
            if team_of(memo) == team and memo.get("kind") != "event":
                ids.append(entry.id)
    gate = asyncio.Semaphore(DESCRIBE_CONCURRENCY)
    found = await asyncio.gather(*(_describe(temporal, gate, sid) for sid in ids))
    descs = [desc for desc in found if desc is not None]
    return sorted(descs, key=lambda desc: (desc.info.created_at, desc.id), reverse=True)


def team_of(memo: Mapping[str, Any]) -> str:
    """The team a schedule belongs to, from its memo (the default team's before teams)."""
    team = memo.get("team")
    return team if isinstance(team, str) and team else DEFAULT_TEAM_ID


async def _describe(
    temporal: Client, gate: asyncio.Semaphore, schedule_id: str
) -> ScheduleDescription | None:
    try:
        async with gate:
            with temporal_errors(schedule_id):
                return await temporal.get_schedule_handle(schedule_id).describe()
    except NotFound:
        return None  # deleted since the (lagging) listing saw it


async def act(
    temporal: Client, principal: Principal, schedule_id: str, action: str,
    body: ScheduleNote | ScheduleTrigger | None,
) -> ScheduleDescription:  # fmt: skip
    """Pause, unpause or trigger the caller's schedule; returns its description after."""
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
        return await handle.describe()


async def delete_owned(temporal: Client, principal: Principal, schedule_id: str) -> None:
    """Delete the caller's schedule (404 when it is not theirs)."""
    await owned(temporal, principal, schedule_id)
    with temporal_errors(schedule_id):
        await temporal.get_schedule_handle(schedule_id).delete()
