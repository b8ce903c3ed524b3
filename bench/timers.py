"""How long a 100 ms durable timer takes on the dev server, stock versus `cape dev`'s tuning.

Run: python bench/timers.py [--runs 10]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from cli.devserver import temporal_binary, tuning_args


@workflow.defn(sandboxed=False)
class SleepWorkflow:
    @workflow.run
    async def run(self) -> None:
        await asyncio.sleep(0.1)


async def measure(extra: list[str], runs: int) -> list[float]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_binary()), dev_server_extra_args=extra
    )
    async with env:
        queue = f"timers-{uuid.uuid4().hex[:8]}"
        async with Worker(
            env.client,
            task_queue=queue,
            workflows=[SleepWorkflow],
            workflow_runner=UnsandboxedWorkflowRunner(),
        ):
            out = []
            for _ in range(runs):
                started = time.monotonic()
                await env.client.execute_workflow(
                    SleepWorkflow.run, id=f"sleep-{uuid.uuid4().hex}", task_queue=queue
                )
                out.append(time.monotonic() - started)
            return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    for label, extra in (("stock", []), ("tuned", tuning_args(None))):
        values = await measure(extra, args.runs)
        print(
            f"{label:6} 100 ms timer workflow: p50 {statistics.median(values) * 1000:.0f} ms, "
            f"min {min(values) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms ({args.runs} runs)"
        )


if __name__ == "__main__":
    asyncio.run(main())
