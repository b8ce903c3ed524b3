"""Task operations: pause, resume, retry from the failed step, rerun, fork."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.deps import (
    ArtifactStoreDep,
    OwnedTaskDep,
    ReadSessionsDep,
    SettingsDep,
    TemporalDep,
    WriterDep,
    WriteSessionsDep,
)
from api.tasks.fork import fork_task
from api.tasks.ops import rerun_task, retry_task, signal_pause
from api.tasks.queries import load_owned_task
from api.tasks.schemas import ForkRequest, PauseBody, RerunBody, TaskOut
from api.tasks.views import task_out

router = APIRouter(prefix="/tasks", tags=["tasks"])


@router.post("/{task_id}/pause", status_code=status.HTTP_202_ACCEPTED, response_model=TaskOut)
async def pause_task(
    task: OwnedTaskDep,
    sessions: WriteSessionsDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: WriterDep,
    body: PauseBody | None = None,
) -> TaskOut:
    """Pause the task at its next step boundary: the running step finishes, then it waits.

    Its status becomes `paused` when it reaches the boundary; 409 when it already ended.
    """
    note = body.note if body else ""
    await signal_pause(sessions, temporal, task, True, principal.owner, note)
    return task_out(task, settings)


@router.post("/{task_id}/resume", status_code=status.HTTP_202_ACCEPTED, response_model=TaskOut)
async def resume_task(
    task: OwnedTaskDep,
    sessions: WriteSessionsDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: WriterDep,
    body: PauseBody | None = None,
) -> TaskOut:
    """Let a paused task carry on (or withdraw a pause it has not reached yet)."""
    note = body.note if body else ""
    await signal_pause(sessions, temporal, task, False, principal.owner, note)
    return task_out(task, settings)


@router.post("/{task_id}/retry", status_code=status.HTTP_202_ACCEPTED, response_model=TaskOut)
async def retry(
    task: OwnedTaskDep,
    sessions: WriteSessionsDep,
    reads: ReadSessionsDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: WriterDep,
) -> TaskOut:
    """Run a failed task again from its failed step (a Temporal reset of its workflow).

    Steps that finished are not run again, so they are not paid for twice; the workspace is
    rewound to the snapshot taken before the failed step. 409 when the task did not fail.
    """
    await retry_task(sessions, temporal, task, principal.owner)
    return task_out(await load_owned_task(reads, principal, task.id), settings)


@router.post("/{task_id}/rerun", status_code=status.HTTP_201_CREATED, response_model=TaskOut)
async def rerun(
    task: OwnedTaskDep,
    response: Response,
    sessions: WriteSessionsDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: WriterDep,
    store: ArtifactStoreDep,
    body: RerunBody | None = None,
) -> TaskOut:
    """Start a new task with the same agent, input and files, linked to this one (`parent_id`).

    The new task runs the agent's default version (or `agent_version`, a version or range);
    `model`, `max_steps` and `input` may be changed; the budgets and input files stay. Works in
    any state.
    """
    change = body or RerunBody()
    started = await rerun_task(sessions, temporal, settings, principal, store, task, change)
    response.headers["Location"] = f"/v1/tasks/{started.task.id}"
    return task_out(started.task, settings, warnings=started.warnings)


@router.post("/{task_id}/fork", status_code=status.HTTP_201_CREATED, response_model=TaskOut)
async def fork(
    parent: OwnedTaskDep,
    body: ForkRequest,
    response: Response,
    sessions: WriteSessionsDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: WriterDep,
    store: ArtifactStoreDep,
) -> TaskOut:
    """Start a new task from the parent's LLM step `step`, reusing every step before it.

    The steps before `step` are copied (not run or paid for again), the workspace starts as the
    parent's snapshot before `step` left it, `input_patch` is merged into the input (validated
    against the agent: 422 names the field) and `model` may differ. The fork is linked to its
    parent (`parent_id`, `relation: fork`).
    """
    task = await fork_task(sessions, temporal, settings, principal, store, parent, body)
    response.headers["Location"] = f"/v1/tasks/{task.id}"
    return task_out(task, settings)
