"""Answering a task's pending question (approval or budget) through the workflow's update."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from cape.db.models import Task
from cape.domain import TaskStatus
from cape.errors import Conflict, InvalidInput, Unavailable
from workflows.types import InputAnswer

UPDATE_TIMEOUT_SECONDS = 15.0  # a worker must take the update within this time
REFUSED_AS_CONFLICT = {"StaleInput", "DuplicateInput", "NoPendingInput"}


class InputBody(BaseModel):
    """The answer to `pending_input` (see `GET /v1/tasks/{id}`)."""

    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(
        min_length=1, max_length=128, description="`pending_input.id` of the question answered."
    )
    action: Literal["approve", "reject", "raise", "cancel"] = Field(
        description="approval: approve | reject | cancel; budget: raise | cancel."
    )
    reason: str = Field("", max_length=2000, description="Told to the model on a rejection.")
    max_steps: int | None = Field(None, ge=1, le=10_000, description="A raised budget.")
    max_tokens: int | None = Field(None, ge=1, description="A raised budget.")
    max_cost: float | None = Field(None, gt=0, description="A raised budget (US dollars).")


class InputAccepted(BaseModel):
    """The task took the answer and carries on (or ends, when it was `cancel`)."""

    request_id: str
    action: str
    accepted: bool


async def answer_task(temporal: Client, task: Task, body: InputBody, by: str) -> InputAccepted:
    """Send the answer as the `provide_input` update; refusals become 409 or 422."""
    if task.status != TaskStatus.INPUT_REQUIRED:
        raise Conflict(
            f"task {task.id!r} is not waiting for input (status {task.status})",
            details={"status": task.status},
        )
    answer = InputAnswer(by=by, **body.model_dump())
    handle = temporal.get_workflow_handle(task.id)
    try:
        result: dict[str, Any] = await asyncio.wait_for(
            handle.execute_update("provide_input", answer, result_type=dict),
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
    return InputAccepted.model_validate(result)


def _refusal(exc: WorkflowUpdateFailedError) -> Exception:
    cause = exc.cause
    if not isinstance(cause, ApplicationError):
        return Conflict(f"the answer was refused: {cause or exc}")
    if cause.type in REFUSED_AS_CONFLICT:
        return Conflict(cause.message, details={"reason": cause.type})
    return InvalidInput(cause.message, details=[{"field": "body", "message": cause.message}])
