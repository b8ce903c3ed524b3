"""Events to instances: which of a team's instances an event goes to, recorded as routes.

`instance_routes` runs in the routing activity's transaction (`cape.events.routing`): each
instance of the event's team that is not stopped and has a subscription matching the event's
type and filter gets an `event_routes` row (`agent` is `instance:<name>`, status `delivered`),
so the event log shows where the event went. `deliveries` reads them back for the activity to
signal each instance's workflow (a retried activity signals again; the workflow drops repeats).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cape.contracts.instances import INSTANCE_ROUTE_PREFIX, Delivery, InstanceStatus
from cape.db.event_models import Event, EventRoute
from cape.db.instance_models import AgentInstance
from cape.events.ids import RouteStatus
from cape.events.match import filter_matches, type_matches


def matching_subscription(subscriptions: list[Any], event: Event) -> dict[str, Any] | None:
    """The first subscription whose type pattern and filter match `event`, else None."""
    for sub in subscriptions:
        if type_matches(sub["event"], event.type) and filter_matches(sub.get("filter"), event.data):
            return dict(sub)
    return None


async def instance_routes(session: AsyncSession, event: Event) -> int:
    """Add a `delivered` route for each instance the event goes to; how many (caller commits)."""
    rows = await session.scalars(
        select(AgentInstance)
        .where(AgentInstance.team_id == event.team_id)
        .where(AgentInstance.state != InstanceStatus.STOPPED.value)
        .order_by(AgentInstance.name)
    )
    count = 0
    for row in rows:
        sub = matching_subscription(row.subscriptions, event)
        if sub is None:
            continue
        session.add(
            EventRoute(
                event_id=event.id, team_id=event.team_id,
                agent=f"{INSTANCE_ROUTE_PREFIX}{row.name}", agent_version=row.version_range,
                trigger=sub["event"], status=RouteStatus.DELIVERED, priority=event.priority,
                input=None, reason=f"delivered to instance {row.id}",
            )
        )  # fmt: skip
        count += 1
    return count


async def deliveries(session: AsyncSession, event_id: str) -> list[tuple[AgentInstance, Delivery]]:
    """The instances `event_id` was delivered to, with what each one's workflow receives."""
    event = await session.get(Event, event_id)
    if event is None:
        return []
    routes = await session.scalars(
        select(EventRoute).where(
            EventRoute.event_id == event_id, EventRoute.status == RouteStatus.DELIVERED
        )
    )
    found = []
    for route in routes:
        name = route.agent.removeprefix(INSTANCE_ROUTE_PREFIX)
        row = await session.scalar(
            select(AgentInstance).where(
                AgentInstance.team_id == event.team_id, AgentInstance.name == name
            )
        )
        if row is None or row.state == InstanceStatus.STOPPED:
            continue  # deleted or stopped since: nothing to deliver to
        delivery = Delivery(event.id, event.type, event.published_at.isoformat(), route.trigger)
        found.append((row, delivery))
    return found
