"""Routing one stored event: its candidate agents, its routes and tasks, in one transaction.

`record_routes` runs in the routing activity (and nowhere else): it locks the event, decides
with `cape.events.plan`, writes each route and each started task's queued row (`add_task`,
`event_id` set, task id derived from the event and the trigger's owner) and the event's
outcome. A retried activity finds the event no longer `pending` and writes nothing twice.
`launches` gives the workflow inputs of the tasks the event started, for the routing workflow
to start them.

A trigger naming a capability starts its task on the agent the assigner chose
(`cape.events.assigned`); the task id is still derived from the event and the trigger's owner
(the route row's `agent`), so one event starts at most one task per owner whichever agent is
chosen, and the task gets the `task-assigned` event in the same transaction.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cape.assign.event import record_assignment, recorded_alternatives
from cape.contracts.events import TaskLaunch
from cape.contracts.task_input import LockRequest
from cape.db.agent_models import Agent, AgentVersion
from cape.db.event_models import Event, EventRoute
from cape.db.models import Task, utcnow
from cape.events.assigned import plan_route
from cape.events.ids import EventStatus, Priority, RouteStatus, event_task_id
from cape.events.plan import RoutePlan, concurrency_lock, outcome
from cape.instances.routing import instance_routes
from cape.registry.resolve import load_spec, spec_of
from cape.registry.spec import AgentSpec
from cape.registry.store import VersionStatus, default_row
from cape.settings import Settings
from cape.tasks.rows import NewTask, add_task
from cape.tasks.workflow_input import workflow_input


def event_view(event: Event) -> dict[str, Any]:
    """The event as triggers and templates see it."""
    return {
        "id": event.id, "type": event.type, "data": event.data, "priority": event.priority,
        "source": event.source, "occurred_at": event.occurred_at.isoformat(),
    }  # fmt: skip


async def candidates(session: AsyncSession, team_id: str) -> list[AgentSpec]:
    """The version that fires of each agent of the team that has triggers.

    It is the agent's default version (the one a task naming no version gets), when it is
    published or deprecated: drafts and yanked versions never fire.
    """
    rows = await session.execute(
        select(Agent, AgentVersion)
        .join(AgentVersion, AgentVersion.agent == Agent.name)
        .where(Agent.team_id == team_id)
    )
    by_agent: dict[str, tuple[Agent, list[AgentVersion]]] = {}
    for agent, version in rows:
        by_agent.setdefault(agent.name, (agent, []))[1].append(version)
    specs = []
    for agent, versions in by_agent.values():
        row = default_row(agent, versions)
        if row is None or not VersionStatus(row.status).startable:
            continue
        spec = spec_of(row)
        if spec.triggers:
            specs.append(spec)
    return sorted(specs, key=lambda s: s.name)


async def plan_event(session: AsyncSession, settings: Settings, event: Event) -> list[RoutePlan]:
    """The routes of `event` in its team now, after the loop guard and debounce."""
    view = event_view(event)
    plans = []
    for spec in await candidates(session, event.team_id):
        plan = await plan_route(session, event.team_id, spec, view)
        if plan is not None:
            plans.append(await _guard(session, event, spec, plan))
    return plans


async def record_routes(session: AsyncSession, settings: Settings, event_id: str) -> None:
    """Route the pending event `event_id` and record everything (the caller commits)."""
    event = await session.get(Event, event_id, with_for_update=True)
    if event is None or event.status != EventStatus.PENDING:
        return  # gone (retention) or routed by an earlier attempt
    event.routed_at = utcnow()
    if event.depth > settings.event_max_depth:
        event.status = EventStatus.FAILED
        event.reason = (
            f"causation chain depth {event.depth} exceeds the limit of "
            f"{settings.event_max_depth} (CAPE_EVENT_MAX_DEPTH)"
        )
        return
    plans = await plan_event(session, settings, event)
    for plan in plans:
        task_id = None
        if plan.status == RouteStatus.STARTED:
            # Keyed by the trigger's owner, not the chosen agent: a retried routing derives
            # the same id even if it would choose differently now.
            task_id = event_task_id(event.id, plan.agent)
            await _add_task(session, settings, event, plan, task_id)
            if plan.assignment is not None:
                await record_assignment(session, task_id, plan.assignment)
        session.add(
            EventRoute(
                event_id=event.id,
                team_id=event.team_id,
                agent=plan.agent,
                agent_version=plan.agent_version,
                trigger=plan.trigger,
                status=plan.status,
                reason=plan.reason,
                priority=plan.priority,
                input=plan.input,
                task_id=task_id,
            )
        )
    status, reason = outcome(plans)
    if await instance_routes(session, event):  # delivered to instances: routed all the same
        status, reason = EventStatus.ROUTED, None
    event.status, event.reason = status, reason


async def launches(session: AsyncSession, settings: Settings, event_id: str) -> list[TaskLaunch]:
    """The workflow inputs of the tasks `event_id` started (to start or find again)."""
    routes = await session.scalars(
        select(EventRoute).where(EventRoute.event_id == event_id, EventRoute.task_id.is_not(None))
    )
    event = await session.get(Event, event_id)
    found = []
    for route in routes:
        task = await session.get(Task, route.task_id)
        if task is None:
            continue
        spec = await load_spec(session, task.agent, task.agent_version)
        inp = workflow_input(settings, NewTask.of(task), spec)
        inp.lock_priority = route.priority
        inp.alternatives = await recorded_alternatives(session, task)
        owner = spec
        if (route.agent, route.agent_version) != (task.agent, task.agent_version):
            # Assigned by capability: the trigger is in its owner's version.
            owner = await load_spec(session, route.agent, route.agent_version)
        trigger = next((t for t in owner.triggers if t.event == route.trigger), None)
        if event is not None and trigger is not None:
            # The route started, so the key rendered when it was planned: it renders again.
            lock = concurrency_lock(owner.name, trigger, event_view(event))
            if lock is not None:
                inp.locks.append(LockRequest(lock, 1, "concurrency_key"))
        found.append(TaskLaunch(inp, task.team_id, Priority(route.priority).key))
    return found


async def _add_task(
    session: AsyncSession, settings: Settings, event: Event, plan: RoutePlan, task_id: str
) -> None:
    chosen = plan.assignment
    if chosen is not None and chosen.version is not None:
        spec = await load_spec(session, chosen.agent, chosen.version)
    else:
        spec = await load_spec(session, plan.agent, plan.agent_version)
    assert plan.input is not None
    max_steps = min(spec.limits.max_steps, settings.max_steps)
    limits: dict[str, Any] = {
        "max_steps": max_steps,
        "max_tokens": spec.limits.max_tokens,
        "max_cost": spec.limits.max_cost,
        "timeout_seconds": spec.limits.timeout_seconds,
    }
    new = NewTask(
        id=task_id, agent=spec.name, agent_version=spec.version, owner=event.published_by,
        input=plan.input, model=spec.model.name or settings.default_model,
        max_steps=max_steps, limits=limits, team_id=event.team_id, event_id=event.id,
    )  # fmt: skip
    details: dict[str, Any] = {"limits": limits, "event_id": event.id, "trigger": plan.trigger}
    if chosen is not None:
        details["capability"] = chosen.capability
        details["trigger_agent"] = plan.agent
    await add_task(session, new, details)


async def _guard(
    session: AsyncSession, event: Event, spec: AgentSpec, plan: RoutePlan
) -> RoutePlan:
    """The plan, failed when it would loop, skipped when debounced."""
    if plan.status != RouteStatus.STARTED:
        return plan
    if event.causation_task_id is not None:
        cause = await session.get(Task, event.causation_task_id)
        if cause is not None and cause.agent == plan.runs_on:
            reason = f"loop: the event was published by a task of {plan.runs_on}"
            return _with(plan, RouteStatus.FAILED, reason)
    trigger = next(t for t in spec.triggers if t.event == plan.trigger)
    if trigger.debounce_seconds:
        since = utcnow() - timedelta(seconds=trigger.debounce_seconds)
        recent = await session.scalar(
            select(EventRoute.event_id).where(
                EventRoute.team_id == event.team_id, EventRoute.agent == plan.agent,
                EventRoute.trigger == plan.trigger, EventRoute.status == RouteStatus.STARTED,
                EventRoute.created_at >= since,
            ).limit(1)
        )  # fmt: skip
        if recent is not None:
            reason = f"debounced: {recent} started it less than {trigger.debounce_seconds}s ago"
            return _with(plan, RouteStatus.DEBOUNCED, reason)
    return plan


def _with(plan: RoutePlan, status: RouteStatus, reason: str) -> RoutePlan:
    return replace(plan, status=status, reason=reason, problems=[])
