"""The routing activity of an event: record its routes and tasks, return what to start.

It writes in one transaction (`cape.events.routing.record_routes`); a retry after a crash
finds the event routed and only reads the launches again, so an event never starts a task
twice (each task id is derived from the event and the agent as well).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.instances import Deliver, deliver_routed
from cape.contracts.events import ROUTE_EVENT_ACTIVITY, RouteEventInput, RouteEventResult
from cape.db.event_models import Event
from cape.events.publishing import register_scheduled
from cape.events.routing import launches, record_routes
from cape.settings import Settings


class EventActivities:
    """Activities of the event routing workflow, bound to the database and settings."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        deliver: Deliver | None = None,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.deliver = deliver  # signals the instances an event goes to (docs/instances.md)

    @activity.defn(name=ROUTE_EVENT_ACTIVITY)
    async def route_event(self, inp: RouteEventInput) -> RouteEventResult:
        """Route the event once; return its outcome and the tasks it started.

        A schedule's run first adds its event's row, named after the run's workflow id.
        """
        event_id = inp.event_id or activity.info().workflow_id or ""
        if inp.registration is not None:
            async with self.sessions() as session:
                await register_scheduled(session, event_id, inp.registration)
        async with self.sessions.begin() as session:
            await record_routes(session, self.settings, event_id)
        async with self.sessions() as session:
            event = await session.get(Event, event_id)
            status = event.status if event is not None else "missing"
            found = await launches(session, self.settings, event_id)
        if self.deliver is not None:  # before the activity completes: a retry delivers again
            await deliver_routed(self.sessions, self.settings, self.deliver, event_id)
        activity.logger.info("event routed: %s, %d tasks", status, len(found))
        return RouteEventResult(status, found)
