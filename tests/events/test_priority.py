"""A critical event overtakes low ones queued before it on the same saturated worker.

The API publishes four `low` events and then one `critical` event while no worker polls the
queue; then one worker starts that runs one workflow task and one activity at a time. Temporal
dispatches the backlog by `priority_key`, so the critical event is routed first (its
`routed_at` is written by its routing activity), and the task it starts carries priority key 1.
No timing is asserted: only the order in which the single worker took the work.
"""

from __future__ import annotations

import contextlib

from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

from cape.db.engine import create_engine
from cape.llm.providers import Providers
from cape.settings import Settings
from tests.conftest import Api
from tests.events.support import own_team, publish, routed, triggered_agent
from worker.main import WORKFLOWS, build_activities


async def test_critical_event_is_routed_before_queued_low_ones(
    api: Api, settings: Settings, client: Client
) -> None:
    async with own_team(api, settings) as http:
        await triggered_agent(http, {"event": "load.*"})
        lows = [(await publish(http, "load.low", priority="low"))["id"] for _ in range(6)]
        critical = (await publish(http, "load.critical", priority="critical"))["id"]
        engine = create_engine(settings)
        provider = Providers(settings)
        worker = Worker(
            client,
            task_queue=settings.task_queue,
            workflows=list(WORKFLOWS),
            activities=build_activities(settings, engine, provider, client),
            max_concurrent_workflow_tasks=1,
            max_concurrent_activities=1,
        )
        async with worker:
            events = {i: await routed(http, i) for i in [*lows, critical]}
            first = min(events.values(), key=lambda e: e["routed_at"])
            assert first["id"] == critical, [
                (e["priority"], e["routed_at"]) for e in events.values()
            ]
            for event_id in (critical, lows[0]):  # its tasks are started when it completes
                await client.get_workflow_handle(event_id).result()
            task_id = events[critical]["routes"][0]["task_id"]
            described = await client.get_workflow_handle(task_id).describe()
            assert described.raw_description.workflow_execution_info.priority.priority_key == 1
            low_task = events[lows[0]]["routes"][0]["task_id"]
            described = await client.get_workflow_handle(low_task).describe()
            assert described.raw_description.workflow_execution_info.priority.priority_key == 4
            for event_id in events:  # stop the tasks: only the start order mattered
                await client.get_workflow_handle(event_id).result()
                task = events[event_id]["routes"][0]["task_id"]
                with contextlib.suppress(RPCError):  # it may have finished already
                    await client.get_workflow_handle(task).terminate("priority test done")
        await provider.aclose()
        await engine.dispose()
