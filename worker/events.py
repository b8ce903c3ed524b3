"""Events tasks publish (`publish_event`): stored, then routed like the API's.

`worker/` may import the routing workflow, so it hands the tool activities this publisher at
registration (docs/architecture.md, "Starting a task"). The dedupe key names the task's step
and call, so a retried step finds its event instead of publishing a second one. If the start
of the routing fails, the event stays `pending` and the API's reconciler starts it.
"""

from __future__ import annotations

import contextlib
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from cape.events.ids import EventStatus
from cape.events.publishing import from_task, store_event
from cape.events.start import routing_start
from cape.settings import Settings
from workflows.event_routing import EventRoutingWorkflow

log = structlog.get_logger(__name__)


class TaskEventPublisher:
    """Publishes an event on behalf of a task, with its causation chain."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], client: Client, settings: Settings
    ) -> None:
        self.sessions = sessions
        self.client = client
        self.settings = settings

    async def __call__(
        self, task_id: str, key: str, type_: str, data: dict[str, Any], priority: str
    ) -> dict[str, Any]:
        """Store and route the event; returns its id, depth and whether it was new."""
        async with self.sessions() as session:
            new = await from_task(session, task_id, type_, data, priority, key)
            event, created = await store_event(session, new)
        if event.status == EventStatus.PENDING:
            start = routing_start(event.id, event.priority, self.settings.task_queue)
            try:
                with contextlib.suppress(WorkflowAlreadyStartedError):
                    await self.client.start_workflow(
                        EventRoutingWorkflow.run,
                        start.input,
                        id=start.id,
                        task_queue=start.task_queue,
                        id_conflict_policy=start.id_conflict_policy,
                        id_reuse_policy=start.id_reuse_policy,
                        priority=start.priority,
                        static_summary=start.summary,
                    )
            except RPCError as exc:  # stored: the reconciler routes it
                log.warning("routing not started; it will be", event_id=event.id, error=str(exc))
        return {"event_id": event.id, "depth": event.depth, "created": created}
