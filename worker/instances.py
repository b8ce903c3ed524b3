"""The delivery of an event to an instance: a signal-with-start of its `InstanceWorkflow`.

`worker/` may import the workflow class, so it hands this starter to the routing activity at
registration (docs/architecture.md, "Starting a task"). A running workflow gets the signal; a
missing one is started from the instance's row first (a stopped row's run ends at once).
"""

from __future__ import annotations

from temporalio.client import Client

from cape.contracts.instances import DELIVER_SIGNAL, Delivery, InstanceState
from cape.instances.start import instance_start
from cape.settings import Settings
from workflows.instances import InstanceWorkflow


class InstanceDeliverer:
    """Signals (or starts and signals) the workflow of an instance with one event."""

    def __init__(self, client: Client, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    async def __call__(self, state: InstanceState, delivery: Delivery) -> None:
        """Deliver `delivery` to the instance `state` describes."""
        start = instance_start(state, self.settings.task_queue)
        await self.client.start_workflow(
            InstanceWorkflow.run,
            start.state,
            id=start.id,
            task_queue=start.task_queue,
            search_attributes=start.search_attributes,
            static_summary=start.summary,
            start_signal=DELIVER_SIGNAL,
            start_signal_args=[delivery],
        )
