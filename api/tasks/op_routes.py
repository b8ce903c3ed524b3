"""Task operations: pause, resume, retry from the failed step, rerun."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field

from api.artifacts.routes import ArtifactStoreDep
from api.deps import PrincipalDep, SettingsDep, TemporalDep, WriteSessionDep
from api.tasks.fork import ForkRequest, fork_task
from api.tasks.ops import retry_task, signal_pause
from api.tasks.routes import owned_task, release, task_out
from api.tasks.schemas import TaskCreate, TaskOut
from api.tasks.service import start_task

router = APIRouter(prefix="/tasks", tags=["tasks"])


class PauseBody(BaseModel):
    """Why the task is paused or resumed (kept in its events)."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field("", max_length=500)


class RerunBody(BaseModel):
    """What to change in the new run; by default the same agent, input, model and budget."""

    model_config = ConfigDict(extra="forbid")

    agent_version: str | None = Field(
        None, max_length=64, description="A version or range; default: the agent's default."
    )
    model: str | None = Field(None, max_length=256)
    max_steps: int | None = Field(None, ge=1, le=10_000)
    input: dict[str, Any] | None = Field(None, description="Replaces the input when given.")


@router.post("/{task_id}/pause", status_code=status.HTTP_202_ACCEPTED, response_model=TaskOut)
async def pause_task(
    task_id: str,
    session: WriteSessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    body: PauseBody | None = None,
) -> TaskOut:
    """Pause the task at its next step boundary: the running step finishes, then it waits.

    Its status becomes `paused` when it reaches the boundary; 409 when it already ended.
    """
    task = await owned_task(session, principal, task_id)
    await release(session)
    await signal_pause(temporal, task, True, principal.owner, body.note if body else "")
    return task_out(task, settings)


@router.post("/{task_id}/resume", status_code=status.HTTP_202_ACCEPTED, response_model=TaskOut)
async def resume_task(
    task_id: str,
    session: WriteSessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    body: PauseBody | None = None,
) -> TaskOut:
    """Let a paused task carry on (or withdraw a pause it has not reached yet)."""
    task = await owned_task(session, principal, task_id)
    await release(session)
    await signal_pause(temporal, task, False, principal.owner, body.note if body else "")
    return task_out(task, settings)


@router.post("/{task_id}/retry", status_code=status.HTTP_202_ACCEPTED, response_model=TaskOut)
async def retry(
    task_id: str,
    session: WriteSessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: PrincipalDep,
) -> TaskOut:
    """Run a failed task again from its failed step (a Temporal reset of its workflow).

    Steps that finished are not run again, so they are not paid for twice; the workspace is
    rewound to the snapshot taken before the failed step. 409 when the task did not fail.
    """
    task = await owned_task(session, principal, task_id)
    await release(session)
    await retry_task(session, temporal, task, principal.owner)
    return task_out(await owned_task(session, principal, task_id), settings)


@router.post("/{task_id}/rerun", status_code=status.HTTP_201_CREATED, response_model=TaskOut)
async def rerun(
    task_id: str,
    response: Response,
    session: WriteSessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    body: RerunBody | None = None,
) -> TaskOut:
    """Start a new task with the same agent and input, linked to this one (`parent_id`).

    The new task runs the agent's default version (or `agent_version`, a version or range);
    `model`, `max_steps` and `input` may be changed; the budgets stay. Works in any state.
    """
    old = await owned_task(session, principal, task_id)
    await release(session)
    change = body or RerunBody()
    limits = old.limits or {}
    request = TaskCreate(
        agent=old.agent,
        agent_version=change.agent_version,
        input=change.input if change.input is not None else old.input,
        model=change.model or old.model,
        max_steps=change.max_steps or old.max_steps,
        max_tokens=limits.get("max_tokens"),
        max_cost=limits.get("max_cost"),
    )
    started = await start_task(
        session, temporal, settings, principal, request, None, parent=(old.id, "rerun")
    )
    response.headers["Location"] = f"/v1/tasks/{started.task.id}"
    return task_out(started.task, settings, warnings=started.warnings)


@router.post("/{task_id}/fork", status_code=status.HTTP_201_CREATED, response_model=TaskOut)
async def fork(
    task_id: str,
    body: ForkRequest,
    response: Response,
    session: WriteSessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    store: ArtifactStoreDep,
) -> TaskOut:
    """Start a new task from the parent's LLM step `step`, reusing every step before it.

    The steps before `step` are copied (not run or paid for again), the workspace starts as the
    parent's snapshot before `step` left it, `input_patch` is merged into the input (validated
    against the agent: 422 names the field) and `model` may differ. The fork is linked to its
    parent (`parent_id`, `relation: fork`).
    """
    parent = await owned_task(session, principal, task_id)
    await release(session)
    task = await fork_task(session, temporal, settings, principal, store, parent, body)
    response.headers["Location"] = f"/v1/tasks/{task.id}"
    return task_out(task, settings)
