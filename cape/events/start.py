"""How an event's routing workflow starts: the options every starter shares.

The call itself is made by reference where the workflow class may be imported (the API's
`api/events/launch.py`, the worker's `worker/events.py` for events tasks publish):

    start = routing_start(event_id, priority, queue)
    await client.start_workflow(EventRoutingWorkflow.run, start.input, id=start.id, ...)

The workflow id is the event id; REJECT_DUPLICATE refuses to run a finished routing again and
USE_EXISTING finds a running one, so no retry or repair routes an event twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.common import Priority as TemporalPriority
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from cape.contracts.events import RouteEventInput
from cape.events.ids import Priority


@dataclass(frozen=True)
class RoutingStart:
    """The start of one event's routing workflow."""

    input: RouteEventInput
    id: str
    task_queue: str
    priority: TemporalPriority
    id_conflict_policy: WorkflowIDConflictPolicy = WorkflowIDConflictPolicy.USE_EXISTING
    id_reuse_policy: WorkflowIDReusePolicy = WorkflowIDReusePolicy.REJECT_DUPLICATE

    @property
    def summary(self) -> str:
        """The workflow's static summary."""
        return f"route event {self.id}"


def routing_start(event_id: str, priority: str, task_queue: str) -> RoutingStart:
    """The routing workflow start of `event_id`, on its priority."""
    return RoutingStart(
        input=RouteEventInput(event_id),
        id=event_id,
        task_queue=task_queue,
        priority=TemporalPriority(priority_key=Priority(priority).key),
    )
