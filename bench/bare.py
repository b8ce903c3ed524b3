"""The bare Temporal baselines: a workflow of no-op activities, and one of a sleeping activity.

Kept in its own tiny module because the workflow sandbox re-imports a workflow's module for
every run: the baseline must not pay for the benchmark script's imports (the Cape workflow's
module passes its imports through the sandbox in the same way).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import SearchAttributeKey

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


COMMANDS_WORKFLOW_NAME = "BenchCommandsWorkflow"
STATUS = SearchAttributeKey.for_keyword("CapeStatus")  # as the agent task upserts its status


@workflow.defn(name=COMMANDS_WORKFLOW_NAME)
class CommandsWorkflow:
    """No-op activities plus `patches` patch checks or `upserts` search-attribute upserts."""

    @workflow.run
    async def run(self, shape: list[int]) -> int:
        activities, patches, upserts = shape
        for step in range(activities):
            await workflow.execute_activity(
                noop, step, start_to_close_timeout=timedelta(seconds=60)
            )
            if step == 0:
                for patch in range(patches):
                    workflow.patched(f"bench-{patch}")
                for upsert in range(upserts):
                    workflow.upsert_search_attributes([STATUS.value_set(f"bench-{upsert}")])
        return activities


SLEEP_WORKFLOW_NAME = "BenchSleepWorkflow"


@activity.defn(name="bench_sleep")
async def sleep(seconds: float) -> float:
    """Wait `seconds` without using the CPU, like an activity waiting on a slow LLM."""
    await asyncio.sleep(seconds)
    return seconds


@workflow.defn(name=SLEEP_WORKFLOW_NAME)
class SleepWorkflow:
    """One activity that sleeps: the bare baseline of the slow-LLM benchmark."""

    @workflow.run
    async def run(self, seconds: float) -> float:
        return await workflow.execute_activity(
            sleep, seconds, start_to_close_timeout=timedelta(seconds=seconds + 600)
        )
