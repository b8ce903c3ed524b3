"""The API's starter of routing workflows: `EventRoutingWorkflow.run`, by reference."""

from __future__ import annotations

import contextlib

from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError

from cape.events.start import routing_start
from cape.settings import Settings
from workflows.event_routing import EventRoutingWorkflow


async def start_routing(temporal: Client, settings: Settings, event_id: str, priority: str) -> None:
    """Start (or find) the routing workflow of `event_id`; a finished one is never re-run."""
    start = routing_start(event_id, priority, settings.task_queue)
    with contextlib.suppress(WorkflowAlreadyStartedError):  # routed already
        await temporal.start_workflow(
            EventRoutingWorkflow.run,
            start.input,
            id=start.id,
            task_queue=start.task_queue,
            id_conflict_policy=start.id_conflict_policy,
            id_reuse_policy=start.id_reuse_policy,
            priority=start.priority,
            static_summary=start.summary,
        )
