"""`EventRoutingWorkflow`: route one event and start the tasks it fires (docs/events.md).

Its workflow id is the event id, so an event is routed by one workflow only. The first
activity records the routes and tasks (idempotently) and returns their inputs; the workflow
starts each task as an abandoned child (its id is the task id, derived from the event and the
agent), on the event's (or trigger's) Temporal priority, which the task's activities inherit.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import Priority, RetryPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.events import EventActivities
    from cape.contracts.events import EVENT_ROUTING_WORKFLOW, RouteEventInput, RouteEventResult
    from cape.tasks.start import task_start
    from workflows.agent_task import AgentTaskWorkflow

ROUTE_TIMEOUT = timedelta(seconds=30)  # it takes milliseconds; a dead worker's attempt retries


@workflow.defn(name=EVENT_ROUTING_WORKFLOW)
class EventRoutingWorkflow:
    """Routes one event: records its outcome, then starts one task per route that fired."""

    @workflow.run
    async def run(self, inp: RouteEventInput) -> RouteEventResult:
        """Route the event; returns its status and the tasks started."""
        result = await workflow.execute_activity_method(
            EventActivities.route_event,
            inp,
            start_to_close_timeout=ROUTE_TIMEOUT,
            # The database may be away for a while: keep trying, never drop the event.
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
        )
        queue = workflow.info().task_queue
        for launch in result.launches:
            start = task_start(launch.input, queue, launch.team_id)
            # Already started (the reconciler restarted its row's workflow): one task only.
            with contextlib.suppress(WorkflowAlreadyStartedError):
                await workflow.start_child_workflow(
                    AgentTaskWorkflow.run,
                    start.input,
                    **start.child_options(),
                    parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                    priority=Priority(priority_key=launch.priority_key),
                )
        workflow.logger.info("event %s: %s", workflow.info().workflow_id, result.status)
        return result
