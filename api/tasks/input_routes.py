"""Answering a task in `input_required`: approve or reject a tool call, raise a budget."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import OwnedTaskDep, TemporalDep, WriterDep
from api.tasks.answers import answer_task
from api.tasks.schemas import InputAccepted, InputBody

router = APIRouter(prefix="/tasks", tags=["tasks"])


@router.post("/{task_id}/input", response_model=InputAccepted)
async def provide_input(
    task: OwnedTaskDep, body: InputBody, temporal: TemporalDep, principal: WriterDep
) -> InputAccepted:
    """Answer what the task waits for (`pending_input` of `GET /v1/tasks/{id}`).

    An approval question takes `approve`, `reject` (the model is told the reason) or `cancel`;
    a budget question takes `raise` with a higher `max_steps`, `max_tokens` or `max_cost`, or
    `cancel`. The answer is a Temporal update with a validator: an answer to an older question
    (stale `request_id`), a second answer to the same one, or an answer while the task waits
    for nothing is a 409 and changes nothing.
    """
    return await answer_task(temporal, task, body, principal.owner)
