"""What an ended workflow says about its task: the final status and error a row should carry."""

from __future__ import annotations

from typing import Any

from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowHistoryEventFilterType,
)

from cape.contracts.failures import Failure
from cape.contracts.temporal import STATUS_KEY
from cape.domain import TaskStatus
from cape.reconciliation import Outcome


def missing(reason: str) -> Outcome:
    """The outcome of a task whose workflow does not exist: failed, saying why."""
    message = f"the task's workflow does not exist in Temporal ({reason}); nothing runs it"
    return Outcome(
        TaskStatus.FAILED, "reconciled", {"type": Failure.WORKFLOW_MISSING, "message": message}
    )


async def ended_outcome(temporal: Client, desc: WorkflowExecutionDescription) -> Outcome:
    """The outcome of a closed workflow, read from its close event (termination reason etc.)."""
    handle = temporal.get_workflow_handle(desc.id, run_id=desc.run_id)
    close = None
    async for event in handle.fetch_history_events(
        event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT
    ):
        close = event
    status = desc.status
    run = desc.run_id
    if status == WorkflowExecutionStatus.TERMINATED:
        ended = close.workflow_execution_terminated_event_attributes if close else None
        reason = ended.reason if ended else ""
        identity = ended.identity if ended else ""
        by = f" by {identity}" if identity else ""
        message = f"the task's workflow was terminated in Temporal{by}: {reason or 'no reason'}"
        error = {"type": Failure.WORKFLOW_TERMINATED, "message": message, "reason": reason}
        return Outcome(TaskStatus.FAILED, run, error | {"identity": identity})
    if status == WorkflowExecutionStatus.FAILED:
        failed = close.workflow_execution_failed_event_attributes if close else None
        cause = failed.failure.message if failed else "unknown"
        error = {"type": Failure.WORKFLOW_FAILED, "message": f"the task's workflow failed: {cause}"}
        return Outcome(TaskStatus.FAILED, run, error)
    if status == WorkflowExecutionStatus.CANCELED:
        message = "the task's workflow was canceled before it recorded an outcome"
        return Outcome(
            TaskStatus.CANCELED, run, {"type": Failure.WORKFLOW_CANCELED, "message": message}
        )
    if status == WorkflowExecutionStatus.TIMED_OUT:
        message = "the task's workflow ran past its run timeout"
        return Outcome(
            TaskStatus.TIMED_OUT, run, {"type": Failure.WORKFLOW_TIMED_OUT, "message": message}
        )
    return await _completed(handle, desc)


async def _completed(
    temporal_handle: WorkflowHandle[Any, Any], desc: WorkflowExecutionDescription
) -> Outcome:
    # The workflow records its outcome before it returns; only a lost write leaves the row
    # open. The status it last published (a search attribute) says how it ended.
    published = desc.typed_search_attributes.get(STATUS_KEY)
    status = TaskStatus(published) if published in set(TaskStatus) else TaskStatus.SUCCEEDED
    if not status.terminal:
        status = TaskStatus.SUCCEEDED
    output = None
    if status == TaskStatus.SUCCEEDED:
        try:
            result = await temporal_handle.result()
        except WorkflowFailureError:
            result = None
        output = {"answer": result.get("answer") if isinstance(result, dict) else None}
    return Outcome(status, desc.run_id, output=output)
