"""The trigger dry-run: what a version's triggers would do with events, starting nothing.

It runs the same decision as the routing activity (`cape.events.assigned.plan_route`) on any
version the caller's team owns, drafts included, so a version is tried before it is published.
A trigger naming a capability shows the agent the assigner would choose now and every
candidate it weighed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.events.schemas import TriggerTest, TriggerTestOut, TriggerVerdict
from cape.auth import Principal
from cape.db.event_models import Event
from cape.db.models import utcnow
from cape.errors import NotFound
from cape.events.assigned import plan_route
from cape.events.ids import RouteStatus
from cape.events.plan import RoutePlan
from cape.events.routing import event_view
from cape.registry.resolve import find_agent, is_mine, spec_of


async def dry_run(
    session: AsyncSession, principal: Principal, name: str, version: str, body: TriggerTest
) -> TriggerTestOut:
    """The verdict of each event for version `version` of the caller's agent `name`."""
    agent, rows = await find_agent(session, principal, name)
    row = next((r for r in rows if r.version == version), None)
    if row is None or not is_mine(agent, principal):
        raise NotFound(
            f"agent {name!r} has no version {version}", details={"agent": name, "version": version}
        )
    spec = spec_of(row)
    if body.event is not None:
        sample = body.event
        views: list[tuple[str | None, dict[str, Any]]] = [
            (None, {"id": None, "type": sample.type, "data": sample.data,
                    "priority": sample.priority, "source": sample.source,
                    "occurred_at": utcnow().isoformat()}),
        ]  # fmt: skip
    else:
        events = await session.scalars(
            select(Event)
            .where(Event.team_id == principal.team_id)
            .order_by(Event.published_at.desc(), Event.id.desc())
            .limit(body.last)
        )
        views = [(e.id, event_view(e)) for e in events]
    results = [
        _verdict(event_id, view, await plan_route(session, principal.team_id, spec, view))
        for event_id, view in views
    ]
    return TriggerTestOut(agent=spec.name, version=spec.version, results=results)


def _verdict(event_id: str | None, view: dict[str, Any], plan: RoutePlan | None) -> TriggerVerdict:
    if plan is None:
        return TriggerVerdict(
            event_id=event_id, type=view["type"], would_start=False, status="no_match",
            trigger=None, priority=None, input=None,
            reason="no trigger of this version names the event's type",
        )  # fmt: skip
    chosen = plan.assignment
    return TriggerVerdict(
        event_id=event_id, type=view["type"], would_start=plan.status == RouteStatus.STARTED,
        status=str(plan.status), trigger=plan.trigger, priority=str(plan.priority),
        input=plan.input, reason=plan.reason, problems=plan.problems,
        assigned_agent=chosen.agent if chosen else None,
        assigned_version=chosen.version if chosen else None,
        candidates=[c.to_data() for c in chosen.candidates] if chosen else [],
    )  # fmt: skip
