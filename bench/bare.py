"""The bare Temporal baseline of the throughput benchmark: a workflow of no-op activities.

Kept in its own tiny module because the workflow sandbox re-imports a workflow's module for
every run: the baseline must not pay for the benchmark script's imports (the Cape workflow's
module passes its imports through the sandbox in the same way).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

WORKFLOW_NAME = "BenchBareWorkflow"


@activity.defn(name="bench_noop")
async def noop(step: int) -> int:
    """Do nothing; return the step number."""
    return step


@workflow.defn(name=WORKFLOW_NAME)
class BareWorkflow:
    """`activities` no-op activities in sequence, like the agent loop's steps."""

    @workflow.run
    async def run(self, activities: int) -> int:
        for step in range(activities):
            await workflow.execute_activity(
                noop, step, start_to_close_timeout=timedelta(seconds=60)
            )
        return activities
