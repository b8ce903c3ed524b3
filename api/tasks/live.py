"""The running workflow's side of a task: its live state, waiting for its end."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError

from api.tasks.progress import row_state, running
from api.tasks.queries import load_owned_task
from api.tasks.schemas import LiveState
from cape.auth import Principal
from cape.db.models import Task
from cape.domain import TaskStatus
from workflows.agent_task import AgentTaskWorkflow

QUERY_TIMEOUT_SECONDS = 2.0  # a query needs a worker; without one it would wait much longer


async def progress(
    temporal: Client, reads: async_sessionmaker[AsyncSession], task: Task, live: bool
) -> LiveState | None:
    """The `live` block of a task: from its rows, or with `live` from its workflow's query.

    A query the workflow does not answer falls back to the rows, as the row view is the same
    but for the details only the workflow knows (see `api.tasks.progress`).
    """
    if live and (state := await live_state(temporal, task)) is not None:
        return state
    return await row_state(reads, task)


async def live_state(temporal: Client, task: Task) -> LiveState | None:
    """The workflow's `state` query while the task runs; None when it is queued or ended."""
    if not running(task):
        return None  # queued: no worker has it yet, so a query would only wait for its timeout
    handle = temporal.get_workflow_handle_for(AgentTaskWorkflow.run, task.id)
    try:
        state = await asyncio.wait_for(
            handle.query(AgentTaskWorkflow.state), timeout=QUERY_TIMEOUT_SECONDS
        )
    except (RPCError, TimeoutError, WorkflowFailureError):
        return None  # no worker picked it up yet, or it just ended: the row is the truth
    return LiveState.model_validate(dataclasses.asdict(state))


async def wait_for_end(
    temporal: Client,
    reads: async_sessionmaker[AsyncSession],
    principal: Principal,
    task: Task,
    timeout: float,
) -> Task:
    """The task once its workflow ended (in any way), or as it is after `timeout` seconds."""
    if TaskStatus(task.status).terminal:
        return task
    handle = temporal.get_workflow_handle_for(AgentTaskWorkflow.run, task.id)
    # A failed or canceled workflow has ended too; the row says how.
    with contextlib.suppress(TimeoutError, WorkflowFailureError):
        await asyncio.wait_for(handle.result(), timeout)
    return await load_owned_task(reads, principal, task.id)
