"""Answering a task's pending question (approval or budget) through the workflow's update."""

from __future__ import annotations

import asyncio

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.tasks.schemas import InputAccepted, InputBody
from api.updates import never_ran
from cape.contracts.failures import INPUT_CONFLICTS
from cape.db.models import Task
from cape.domain import TaskStatus
from cape.errors import Conflict, InvalidInput, Unavailable
from workflows.agent_task import AgentTaskWorkflow
from workflows.types import InputAnswer

UPDATE_TIMEOUT_SECONDS = 15.0  # a worker must take the update within this time


async def answer_task(temporal: Client, task: Task, body: InputBody, by: str) -> InputAccepted:
    """Send the answer as the `provide_input` update; refusals become 409 or 422."""
    if task.status != TaskStatus.INPUT_REQUIRED:
        raise Conflict(
            f"task {task.id!r} is not waiting for input (status {task.status})",
            details={"status": task.status},
        )
    answer = InputAnswer(by=by, **body.model_dump())
    handle = temporal.get_workflow_handle_for(AgentTaskWorkflow.run, task.id)
    try:
        result = await asyncio.wait_for(
            handle.execute_update(AgentTaskWorkflow.provide_input, answer),
            timeout=UPDATE_TIMEOUT_SECONDS,
        )
    except WorkflowUpdateFailedError as exc:
        raise _refusal(exc) from None
    except TimeoutError:
        raise Unavailable(
            "no worker took the answer in time; it was not recorded, send it again"
        ) from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:  # the workflow ended meanwhile
            raise Conflict(f"task {task.id!r} is no longer waiting for input") from None
        raise
    return InputAccepted(
        request_id=result.request_id, action=result.action, accepted=result.accepted
    )


def _refusal(exc: WorkflowUpdateFailedError) -> Exception:
    cause = exc.cause
    if never_ran(exc):  # a worker killed mid-task left it unprocessed: nothing was recorded
        return Unavailable("no worker took the answer; it was not recorded, send it again")
    if not isinstance(cause, ApplicationError):
        return Conflict(f"the answer was refused: {cause or exc}")
    if cause.type in INPUT_CONFLICTS:
        return Conflict(cause.message, details={"reason": cause.type})
    return InvalidInput(cause.message, details=[{"field": "body", "message": cause.message}])
