"""The instance workflow's side effects: prepare a task, follow it to its end, save the state.

Also the delivery of a routed event to its instances (`deliver_routed`), called by the routing
activity after it records the routes: the signal-with-start itself is the worker's
(`worker/instances.py`), which may name the workflow class.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.service import RPCError, RPCStatusCode

from activities.heartbeat import heartbeating
from cape.contracts.instances import (
    AWAIT_ACTIVITY,
    PREPARE_ACTIVITY,
    SAVE_ACTIVITY,
    AwaitInput,
    AwaitResult,
    Delivery,
    InstanceState,
    PrepareInput,
    PrepareResult,
    SaveInput,
)
from cape.db.instance_models import AgentInstance, InstanceHistory
from cape.db.models import Task, utcnow
from cape.domain import TaskStatus
from cape.instances.prepare import FINAL, prepare
from cape.instances.routing import deliveries
from cape.instances.state import copy_state, initial_state
from cape.settings import Settings

log = structlog.get_logger(__name__)
POLL_SECONDS = 10.0  # the long poll of a task's result; a heartbeat goes out meanwhile
NOT_FOUND_LIMIT = 3
# Signal-with-start of an instance's workflow with the event (the worker's `InstanceStarter`).
Deliver = Callable[[InstanceState, Delivery], Awaitable[None]]


async def deliver_routed(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, deliver: Deliver, event_id: str
) -> int:
    """Signal every instance `event_id` was routed to; how many (a retry signals again)."""
    async with sessions() as session:
        found = await deliveries(session, event_id)
        starts = [(initial_state(row, settings), delivery) for row, delivery in found]
    for state, delivery in starts:
        await deliver(state, delivery)
    return len(starts)


class InstanceActivities:
    """Built in the worker with the database, the settings and the worker's Temporal client."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], settings: Settings, client: Client
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.client = client

    @activity.defn(name=PREPARE_ACTIVITY)
    async def prepare_task(self, inp: PrepareInput) -> PrepareResult:
        """The task's row and input for the event (found again on a retry)."""
        async with self.sessions.begin() as session:
            return await prepare(session, self.settings, inp)

    @activity.defn(name=AWAIT_ACTIVITY)
    async def await_task(self, inp: AwaitInput) -> AwaitResult:
        """Wait for the task's workflow to end; record and return how the task ended."""
        handle = self.client.get_workflow_handle(inp.task_id)
        missing = 0
        async with heartbeating():
            while (result := await self._ended(inp)) is None:
                try:
                    await asyncio.wait_for(handle.result(), timeout=POLL_SECONDS)
                except (TimeoutError, WorkflowFailureError):
                    pass
                except RPCError as exc:
                    if exc.status != RPCStatusCode.NOT_FOUND:
                        raise
                    missing += 1
                    if missing >= NOT_FOUND_LIMIT:
                        return await self._record(inp, "failed", "the task's workflow is gone")
                    await asyncio.sleep(1.0)
                    continue
                described = await handle.describe()
                if described.status not in (None, WorkflowExecutionStatus.RUNNING):
                    # Ended without finishing its row (terminated): the row may never say.
                    if (result := await self._ended(inp)) is None:
                        name = described.status.name.lower()
                        outcome = "canceled" if name == "canceled" else "failed"
                        return await self._record(inp, outcome, f"the task's workflow {name}")
                    return result
            return result

    async def _ended(self, inp: AwaitInput) -> AwaitResult | None:
        async with self.sessions() as session:
            task = await session.get(Task, inp.task_id, populate_existing=True)
        if task is None or task.status not in FINAL:
            return None
        outcome = {TaskStatus.SUCCEEDED: "succeeded", TaskStatus.CANCELED: "canceled"}.get(
            TaskStatus(task.status), "failed"
        )
        error = (task.error or {}).get("message") if outcome != "succeeded" else None
        return await self._record(inp, outcome, error, task.finished_at)

    async def _record(
        self, inp: AwaitInput, outcome: str, error: str | None, at: datetime | None = None
    ) -> AwaitResult:
        """Write the outcome to the event's history entry (a retry writes the same)."""
        async with self.sessions.begin() as session:
            entry = await session.scalar(
                select(InstanceHistory).where(
                    InstanceHistory.instance_id == inp.instance_id,
                    InstanceHistory.task_id == inp.task_id,
                )
            )
            if entry is not None and entry.outcome == "running":
                ended = at or utcnow()
                started = entry.started_at
                if started.tzinfo is None:  # SQLite gives back naive UTC
                    started = started.replace(tzinfo=UTC)
                if ended.tzinfo is None:
                    ended = ended.replace(tzinfo=UTC)
                entry.outcome, entry.reason, entry.finished_at = outcome, error, ended
                entry.duration_seconds = max((ended - started).total_seconds(), 0.0)
        return AwaitResult(outcome, error)

    @activity.defn(name=SAVE_ACTIVITY)
    async def save_instance(self, inp: SaveInput) -> None:
        """Copy the workflow's state to the instance's row unless a newer one is there."""
        state = inp.state
        async with self.sessions.begin() as session:
            row = await session.get(AgentInstance, state.config.instance_id, with_for_update=True)
            if row is None or row.version >= state.version:
                return
            copy_state(row, state, inp.inbox_length)
        log.debug("instance saved", instance=state.config.instance_id, state=state.status.value)
