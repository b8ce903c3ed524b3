"""StepRunner: how AgentTaskWorkflow numbers its steps and runs each as an activity."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.types import MethodAsyncSingleParam

with workflow.unsafe.imports_passed_through():
    from activities.types import StepRef, WorkspaceResult
    from cape.domain import StepKind
    from workflows.types import AgentTaskInput, TaskState

# An activity method (`LlmActivities.call_llm`): the class it belongs to, its input and result.
ActivityClass = TypeVar("ActivityClass")
Arg = TypeVar("Arg")
Result = TypeVar("Result")
# A cancellation that arrives while a step that does not heartbeat runs (workspace setup) was
# swallowed when the step then completed: the task went on as if never canceled.
CANCEL_AFTER_STEP_PATCH = "cancel-after-step"
# The task's row keeps its runs (continue-as-new) and deadline, so a GET needs no query.
RUNS_IN_ROW_PATCH = "runs-in-row"
DEADLINE_IN_ROW_PATCH = "deadline-in-row"


class StepRunner:
    """Step numbering, the live state and the activity call every step goes through."""

    def __init__(self) -> None:
        self._state = TaskState()
        self._step_no = 0
        self._input: AgentTaskInput | None = None
        self._ws = WorkspaceResult(path="")
        self._runs_to_record = 0  # a continued run's count, told to the row by its first step

    @property
    def _task(self) -> AgentTaskInput:
        # Set first thing by `run`; handlers and steps only run after it.
        assert self._input is not None
        return self._input

    def _ref(self, name: str, kind: StepKind) -> StepRef:
        self._step_no += 1
        runs, self._runs_to_record = self._runs_to_record, 0
        return StepRef(self._task.task_id, self._step_no, name, kind, runs)

    async def _step(
        self,
        name: str,
        activity: MethodAsyncSingleParam[ActivityClass, Arg, Result],
        arg: Arg,
        timeout: float,
        task_queue: str | None = None,
        summary: str | None = None,
    ) -> Result:
        """Run one step's activity with the task's retries; the step shows as current meanwhile."""
        tuning = self._task.tuning
        self._show_progress(summary or name)
        # On a host's own queue, a step that no worker picks up means the host is gone.
        to_start = timedelta(seconds=tuning.host_timeout_seconds) if task_queue else None
        self._state.current_step = name
        self._state.steps += 1
        done = await workflow.execute_activity_method(
            activity,
            arg,
            task_queue=task_queue,
            schedule_to_start_timeout=to_start,
            start_to_close_timeout=timedelta(seconds=timeout),
            heartbeat_timeout=timedelta(seconds=tuning.heartbeat_timeout_seconds),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=tuning.retry_initial_seconds),
                maximum_interval=timedelta(seconds=max(60.0, tuning.retry_initial_seconds)),
                maximum_attempts=tuning.retry_max_attempts,
            ),
            summary=summary or name,
            # Waiting for the step to stop keeps finish_task's event the task's last: with
            # TRY_CANCEL a streaming LLM step went on writing deltas after `task-canceled`.
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        if workflow.cancellation_reason() is not None and workflow.patched(CANCEL_AFTER_STEP_PATCH):
            raise asyncio.CancelledError  # the run records `canceled`, as for any cancellation
        return done

    def _show_progress(self, current: str, *, final: bool = False) -> None:
        # The Web UI shows these "current details" on the workflow's page; they keep the last
        # value set, so the task's end sets them once more (`final`).
        state = self._state
        cost = f" · cost: ${state.usage.cost_usd:.4f}" if state.usage.cost_usd else ""
        where = f"after step {self._step_no}" if final else f"step {self._step_no}"
        workflow.set_current_details(
            f"**{state.status}** · {where}: {current}\n\n"
            f"model: {state.model} · LLM turns: {state.llm_turns} · "
            f"tokens: {state.usage.total_tokens}{cost}"
        )
