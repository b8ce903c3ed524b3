"""Forking a task: a new task that reuses its parent's steps up to a turn and goes on."""

from __future__ import annotations

from hashlib import sha256

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError

from api.tasks.launch import start_workflow
from api.tasks.schemas import ForkRequest
from cape.artifacts import INPUT_PREFIX, ArtifactStore
from cape.audit import record
from cape.auth import Principal
from cape.db.models import Task, TaskStep
from cape.domain import StepKind
from cape.errors import Conflict, InvalidInput, Unavailable
from cape.registry.resolve import resolve_agent
from cape.registry.spec import AgentSpec
from cape.registry.validate import validate_input
from cape.settings import Settings
from cape.tasks.ids import fork_seed_id, new_task_id
from cape.tasks.rows import NewTask, add_task
from cape.team_limits import check_new_task

log = structlog.get_logger(__name__)
CONVERSATION = (StepKind.LLM, StepKind.TOOL, StepKind.CHECK)  # steps a fork copies


async def fork_task(
    sessions: async_sessionmaker[AsyncSession],
    temporal: Client,
    settings: Settings,
    principal: Principal,
    store: ArtifactStore,
    parent: Task,
    request: ForkRequest,
) -> Task:
    """A new task that reuses the parent's steps before `request.step` and goes on from there.

    `step` must be one of the parent's LLM steps (a turn boundary). The new task gets the
    parent's input with `input_patch` applied (validated against the agent), optionally another
    model, a copy of the parent's steps before `step` (so the conversation up to there is not
    paid for again) and the workspace as the parent's last snapshot before `step` left it.
    """
    # Before this request's own session: on SQLite a writing session takes the write lock,
    # which the store's session would then wait for.
    earlier = [a.id for a in await store.snapshots(parent.id) if (a.step_no or 0) < request.step]
    snapshot = earlier[-1] if earlier else None
    async with sessions() as session:
        await check_new_task(session, settings, principal.team_id)  # a fork is a new task
        task, agent = await _add_fork(session, principal, parent, request, snapshot)
    assert snapshot is not None  # _add_fork refuses a fork without one
    source = await store.get(parent.id, snapshot)
    await store.put(
        task.id, "fork-seed.tar.gz", store.path(source), "application/gzip",
        artifact_id=fork_seed_id(task.id),
    )  # fmt: skip
    for file in await store.inputs(parent.id):  # the seed holds input/; the fork keeps the files
        await store.put(
            task.id, file.name, store.path(file), file.media_type,
            artifact_id=INPUT_PREFIX + sha256(f"{task.id}:{file.id}".encode()).hexdigest()[:32],
        )  # fmt: skip
    try:
        await start_workflow(temporal, settings, task, agent)
    except (RPCError, RuntimeError) as exc:  # RuntimeError: the lazy client never connected
        raise Unavailable(
            "could not start the fork: Temporal is unavailable", details=str(exc)
        ) from exc
    log.info("task forked", task_id=task.id, parent=parent.id, step=request.step)
    return task


async def _add_fork(
    session: AsyncSession,
    principal: Principal,
    parent: Task,
    request: ForkRequest,
    snapshot: str | None,
) -> tuple[Task, AgentSpec]:
    """Validate the fork and commit its row, its copied steps and its `task-created` event."""
    # The parent's pinned version unless another version or range is asked for.
    wanted = request.agent_version or parent.agent_version
    resolved = await resolve_agent(session, principal, parent.agent, wanted)
    agent = resolved.spec
    new_input = {**parent.input, **request.input_patch}
    validate_input(agent.name, agent.input_schema, new_input)
    steps = list(
        await session.scalars(
            select(TaskStep).where(TaskStep.task_id == parent.id).order_by(TaskStep.step_no)
        )
    )
    llm_steps = [s.step_no for s in steps if s.kind == StepKind.LLM]
    if request.step not in llm_steps:
        raise InvalidInput(
            f"step {request.step} is not an LLM step of task {parent.id!r}",
            details=[{"field": "body.step", "message": f"LLM steps: {llm_steps}"}],
        )
    if snapshot is None:
        raise Conflict(
            f"task {parent.id!r} has no workspace snapshot before step {request.step}; "
            "forks need snapshots (CAPE_WORKSPACE_SNAPSHOTS=true when the parent ran)"
        )
    new = NewTask(
        id=new_task_id(principal.team_id, None), agent=agent.name,
        agent_version=resolved.version, owner=principal.owner, team_id=principal.team_id,
        input=new_input, model=request.model or parent.model,
        max_steps=parent.max_steps, limits=parent.limits, parent_id=parent.id, relation="fork",
        fork_step=request.step,
    )  # fmt: skip
    # The reads above began the session's transaction: the writes join it.
    task = await add_task(
        session, new, {"parent_id": parent.id, "relation": "fork", "fork_step": request.step}
    )
    for step in steps:
        if 1 < step.step_no < request.step and step.kind in CONVERSATION:
            session.add(_copy_step(step, task.id))
    record(session, principal, "task.fork", "task", task.id, parent=parent.id, step=request.step)
    await session.commit()
    return task, agent


def _copy_step(step: TaskStep, task_id: str) -> TaskStep:
    return TaskStep(
        task_id=task_id, step_no=step.step_no, name=step.name, kind=step.kind,
        status=step.status, attempt=step.attempt, input=step.input, output=step.output,
        error=step.error, usage=step.usage, started_at=step.started_at,
        finished_at=step.finished_at,
    )  # fmt: skip
