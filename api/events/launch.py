"""The API's starter of routing workflows: `EventRoutingWorkflow.run`, by reference."""

from __future__ import annotations

import contextlib

from temporalio.client import Client
from temporalio.common import Priority as TemporalPriority
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from cape.contracts.events import RouteEventInput
from cape.events.ids import Priority
from cape.settings import Settings
from workflows.event_routing import EventRoutingWorkflow


async def start_routing(temporal: Client, settings: Settings, event_id: str, priority: str) -> None:
    """Start (or find) the routing workflow of `event_id`; its id is the event id.

    A routing that already ran is never run again (REJECT_DUPLICATE): a retried publish or the
    reconciler's restart cannot route an event twice.
    """
    # WorkflowAlreadyStartedError: routed already.
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await temporal.start_workflow(
            EventRoutingWorkflow.run,
            RouteEventInput(event_id),
            id=event_id,
            task_queue=settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            priority=TemporalPriority(priority_key=Priority(priority).key),
            static_summary=f"route event {event_id}",
        )
