"""Bookkeeping of AgentTaskWorkflow: status, events, the task's end and what the Web UI shows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.types import MethodAsyncSingleParam

with workflow.unsafe.imports_passed_through():
    from activities.task import TaskActivities
    from activities.types import EventInput, FinishInput, MarkInput
    from cape.contracts.records import PendingQuestion, TaskError
    from cape.contracts.temporal import STATUS_KEY
    from cape.domain import Channel, EventType, TaskStatus
    from workflows.steps import Arg, StepRunner

# The Web UI's current details show the task's end (issue 12 B4), not its last running step.
FINAL_DETAILS_PATCH = "final-current-details"
# Statuses, events and the task's end are short writes to the app database: as local activities
# they run inside the workflow task that decided them, with no activity task for the server to
# dispatch and no workflow task to report back (issue 20: one activity and one workflow task
# fewer per task, whose finish no longer waits for a poll).
LOCAL_BOOKKEEPING_PATCH = "local-bookkeeping"
BOOKKEEPING_TIMEOUT = timedelta(seconds=30)


class Bookkeeping(StepRunner):
    """Writes what the workflow decided (statuses, events, the outcome) through activities."""

    async def _mark(
        self,
        status: TaskStatus,
        event: EventType,
        data: dict[str, Any],
        *,
        pending: PendingQuestion | None = None,
    ) -> None:
        """Store a status the workflow set itself with its event (paused, waiting for input)."""
        channel = Channel.INPUT if event.startswith("input-") else Channel.LIFECYCLE
        await self._bookkeep(
            TaskActivities.mark_task,
            MarkInput(self._task.task_id, status, event, data, channel, pending),
            f"status: {status}",
        )
        self._set_status(status)

    async def _event(
        self, channel: Channel, type_: EventType, data: dict[str, Any], key: str
    ) -> None:
        """Record one event the workflow decided on, once (`key` deduplicates retries)."""
        await self._bookkeep(
            TaskActivities.record_event,
            EventInput(self._task.task_id, channel, type_, data, key),
            f"event: {type_}",
        )

    async def _finish(
        self,
        status: TaskStatus,
        output: dict[str, Any] | None = None,
        error: TaskError | None = None,
    ) -> None:
        """Store how the task ended: its status, output or error, and usage."""
        self._state.error = error
        self._state.pending_input = None
        await self._bookkeep(
            TaskActivities.finish_task,
            FinishInput(self._task.task_id, status, output, error, self._state.usage),
            f"finish: {status}",
        )
        self._set_status(status)
        if workflow.patched(FINAL_DETAILS_PATCH):
            self._show_progress(outcome(output, error), final=True)

    async def _bookkeep(
        self,
        activity: MethodAsyncSingleParam[TaskActivities, Arg, None],
        arg: Arg,
        summary: str,
    ) -> None:
        """Run one bookkeeping write; retried until it succeeds (the database may be away)."""
        # Its backoff is capped at 30 s, under the SDK's 1 min local retry threshold: a local
        # activity retries within its workflow task, which the SDK keeps alive meanwhile.
        retry = self._bookkeeping_retry()
        if workflow.patched(LOCAL_BOOKKEEPING_PATCH):
            await workflow.execute_local_activity_method(
                activity, arg, start_to_close_timeout=BOOKKEEPING_TIMEOUT, retry_policy=retry,
                summary=summary,
            )  # fmt: skip
        else:  # a run that began before the patch scheduled these as activities
            await workflow.execute_activity_method(
                activity, arg, start_to_close_timeout=BOOKKEEPING_TIMEOUT, retry_policy=retry,
                summary=summary,
            )  # fmt: skip

    def _bookkeeping_retry(self) -> RetryPolicy:
        return RetryPolicy(
            initial_interval=timedelta(seconds=self._task.tuning.retry_initial_seconds),
            maximum_interval=timedelta(seconds=30),
        )

    def _set_status(self, status: TaskStatus) -> None:
        self._state.status = status
        workflow.upsert_search_attributes([STATUS_KEY.value_set(str(status))])


def outcome(output: dict[str, Any] | None, error: TaskError | None) -> str:
    """One line on how the task ended, for the Web UI's current details."""
    if error is not None:
        return f"{error.get('type', 'error')}: {str(error.get('message', ''))[:200]}"
    return "answered" if output is not None else "ended"
