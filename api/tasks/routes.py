"""Task routes: create, list, get, steps, cancel and wait."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response, status

from api.deps import (
    ArtifactStoreDep,
    OwnedTaskDep,
    ReaderDep,
    ReadSessionsDep,
    ReconcileDep,
    SessionDep,
    SettingsDep,
    TemporalDep,
    WriterDep,
    WriteSessionsDep,
)
from api.tasks.body import form_schema, read_task_request
from api.tasks.cancel import cancel_task as cancel_owned_task
from api.tasks.live import progress, wait_for_end
from api.tasks.progress import lock_wait
from api.tasks.queries import task_filters, task_page, task_steps
from api.tasks.schemas import StepOut, TaskOut, TaskPage, TaskStatus
from api.tasks.service import start_task
from api.tasks.tree import task_children
from api.tasks.views import task_out

router = APIRouter(prefix="/tasks", tags=["tasks"])
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=256)]
LiveQuery = Annotated[
    bool,
    Query(
        description="Ask the running workflow for its state (`live`) instead of reading the "
        "task's rows (the same fields, the workflow's view of this instant); costs a round "
        "trip through a worker.",
    ),
]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TaskOut,
    openapi_extra={"requestBody": form_schema()},
)
async def create(
    request: Request,
    response: Response,
    sessions: WriteSessionsDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: WriterDep,
    store: ArtifactStoreDep,
    idempotency_key: IdempotencyKey = None,
) -> TaskOut:
    """Start an agent task on a version of its agent, optionally with input files.

    The body is the task as JSON, or `multipart/form-data` with the task as JSON in a `task`
    field and one `file` part per file. `files` in the task names already uploaded artifacts
    of the team (`artifact_id`, optional `path`). All files are in the workspace's `input/`
    before the first step. Each file is within `artifact_max_upload_mb` and of a type in
    `artifact_upload_types`, all of them within `task_files_max_count` and `task_files_max_mb`
    (422 naming the file's field); paths are relative, without `..`. Another team's artifact
    is a 404.

    Instead of `agent`, `capability` (and optionally `complexity`, 1-10) lets the assigner
    choose among the team's published agents that declare it (available ones first, then the
    best record; docs/multi-agent.md); the choice is the task's `task-assigned` event, and a
    task whose candidates are all busy waits `queued` for its agent's slot. No candidate is a
    422 naming `body.capability`; both or neither of `agent` and `capability`, too.

    `agent_version` picks a version or range (`^1.2`); by default the agent's default version.
    The resolved version is pinned in the task. A yanked version is refused (409); a deprecated
    one starts with a warning in `warnings`. The input is validated against the version's JSON
    Schema and the budgets against its ceilings (422 names each bad field). With an
    `Idempotency-Key` header, repeating the request returns the same task with status 200.
    """
    read = await read_task_request(request, settings)
    try:
        started = await start_task(
            sessions, temporal, settings, principal, read.body, idempotency_key,
            store=store, uploads=read.uploads,
        )  # fmt: skip
    finally:
        await read.close()
    response.headers["Location"] = f"/v1/tasks/{started.task.id}"
    if not started.created:
        response.status_code = status.HTTP_200_OK
    return task_out(started.task, settings, warnings=started.warnings)


@router.get("", response_model=TaskPage)
async def list_tasks(
    session: SessionDep,
    settings: SettingsDep,
    principal: ReaderDep,
    status_filter: Annotated[TaskStatus | None, Query(alias="status")] = None,
    agent: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> TaskPage:
    """List the caller's tasks, newest first, filtered by status and agent."""
    filters = task_filters(principal.team_id, status_filter, agent)
    page = await task_page(session, filters, limit, cursor)
    return TaskPage(items=[task_out(t, settings) for t in page.rows], next_cursor=page.next_cursor)


@router.get("/{task_id}", response_model=TaskOut)
async def get_task(
    task: OwnedTaskDep,
    reads: ReadSessionsDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    live: LiveQuery = False,
) -> TaskOut:
    """A task, with its progress (`live`) while it runs.

    `live` is read from the task's rows; with `live=true` it is the workflow's `state` query.
    """
    waiting = await lock_wait(reads, task)
    out = task_out(task, settings, await progress(temporal, reads, task, live), None, waiting)
    out.children = await task_children(reads, task)
    return out


@router.get("/{task_id}/steps", response_model=list[StepOut])
async def list_steps(task: OwnedTaskDep, session: SessionDep) -> list[StepOut]:
    """The task's steps in order."""
    return [StepOut.model_validate(step) for step in await task_steps(session, task.id)]


@router.post("/{task_id}/cancel", status_code=status.HTTP_202_ACCEPTED, response_model=TaskOut)
async def cancel_task(
    task: OwnedTaskDep, reconcile: ReconcileDep, settings: SettingsDep, principal: WriterDep
) -> TaskOut:
    """Ask the task to stop; it ends as `canceled` once its current step is interrupted.

    A task whose workflow already ended in Temporal (terminated there, say) gets that final
    status and a 409 naming it; one whose workflow never started is canceled.
    """
    task = await cancel_owned_task(reconcile, task, principal.owner)
    return task_out(task, settings)


@router.get("/{task_id}/wait", response_model=TaskOut)
async def wait_for_task(
    task: OwnedTaskDep,
    reads: ReadSessionsDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: ReaderDep,
    timeout: Annotated[float, Query(gt=0, le=300)] = 30.0,
    live: LiveQuery = False,
) -> TaskOut:
    """Wait up to `timeout` seconds for the task to end, then return it (ended or not)."""
    task = await wait_for_end(temporal, reads, principal, task, timeout)
    waiting = await lock_wait(reads, task)
    out = task_out(task, settings, await progress(temporal, reads, task, live), None, waiting)
    out.children = await task_children(reads, task)
    return out
