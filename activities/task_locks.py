"""A task's own locks: ask the resource's lock workflow, wait for the grant, renew, release.

A workflow cannot send an update to another workflow, so these activities do it for the task
(docs/locks.md, "Agents use locks"). They name the lock workflow and its handlers by the
contract's names (`cape.contracts.locks`): `activities/` may not import `workflows/`.

Durability across a killed worker: the request is an update, answered once the lock has
queued or granted the task (the holder is the task id, so asking again finds the same place
or grant); the wait is a separate, heartbeating activity that follows the lock's state by
queries. A worker killed while a task waits loses only the poll: the heartbeat times out,
another worker retries the wait, and the task's place in the queue never moved.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.heartbeat import heartbeating
from cape.contracts.locks import (
    ACQUIRE_UPDATE,
    LOCK_STATE_QUERY,
    LOCK_WORKFLOW,
    QUEUE_FULL,
    RELEASE_UPDATE,
    RENEW_UPDATE,
    STALE_TOKEN,
    WITHDRAW_UPDATE,
    AcquireInput,
    AcquireReply,
    Grant,
    HolderKind,
    LockState,
    ReleaseInput,
    RenewInput,
    TaskLockInput,
    TaskLockLease,
    WithdrawInput,
    WithdrawReply,
    lock_workflow_id,
)
from cape.contracts.temporal import TEAM_KEY
from cape.db.models import Task
from cape.domain import TaskStatus
from cape.settings import Settings

log = structlog.get_logger(__name__)
# The first in line looks often, the others less (each look is a query to a worker).
POLL_FIRST = 0.05
POLL_STEP = 0.25
POLL_MAX = 2.0


class TaskLockActivities:
    """Built in the worker with the database (the task's team), settings and Temporal client."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], settings: Settings, client: Client
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.client = client

    @activity.defn(name="request_task_lock")
    async def request_lock(self, inp: TaskLockInput) -> AcquireReply:
        """Ask for the lock: `granted` (with the grant) or `waiting` (with the position).

        The first request on a resource starts its lock workflow (update-with-start). A full
        queue fails the task (non-retryable `LockQueueFull`).
        """
        return await self._acquire(await self._team(inp.task_id), inp)

    @activity.defn(name="await_task_lock")
    async def await_lock(self, inp: TaskLockInput) -> Grant:
        """Wait, heartbeating, until the lock grants the task; its grant.

        The task asks again (keeping its place) before its wait runs out, and when it is no
        longer queued at all (its wait ran out while no worker polled), it queues again.
        """
        team = await self._team(inp.task_id)
        handle = self.client.get_workflow_handle(lock_workflow_id(team, inp.resource))
        async with heartbeating():
            while True:
                state: LockState = await handle.query(LOCK_STATE_QUERY, result_type=LockState)
                grant: Grant | None = next(
                    (g for g in state.holders if g.holder == inp.task_id), None
                )
                if grant is not None:
                    return grant
                place, waiter = next(
                    ((i, w) for i, w in enumerate(state.waiters, 1) if w.holder == inp.task_id),
                    (0, None),
                )
                left = (
                    (datetime.fromisoformat(waiter.wait_until) - datetime.now(UTC)).total_seconds()
                    if waiter is not None
                    else 0.0
                )
                if waiter is None and await self._ended(inp.task_id):
                    # Withdrawn by the task as it ended (its status is written first): asking
                    # again would queue a task that will never take the lock.
                    raise ApplicationError("the task ended while it waited", non_retryable=True)
                if left < inp.wait_seconds / 2:  # not queued, or half its wait is gone
                    reply = await self._acquire(team, inp)
                    if reply.grant is not None:
                        return reply.grant
                    place = reply.position
                step = POLL_FIRST if place <= 1 else POLL_STEP * place
                await asyncio.sleep(min(step, POLL_MAX))

    @activity.defn(name="renew_task_lock")
    async def renew_lock(self, inp: TaskLockLease) -> str:
        """Extend the task's lease by `ttl_seconds`; its new expiry, "" when it is gone."""
        grant = await self._lease(inp, RENEW_UPDATE, RenewInput(inp.token, inp.ttl_seconds))
        return grant.expires_at if grant is not None else ""

    @activity.defn(name="release_task_lock")
    async def release_lock(self, inp: TaskLockLease) -> bool:
        """Give the task's lease back; False when it was gone already.

        Gone: expired, or released by the lock's own watch of the task.
        """
        grant = await self._lease(inp, RELEASE_UPDATE, ReleaseInput(inp.token, inp.reason))
        return grant is not None

    @activity.defn(name="withdraw_task_lock")
    async def withdraw_lock(self, inp: TaskLockInput) -> str:
        """Take the task's request out of the lock's queue (a task canceled while waiting).

        A grant given meanwhile is released by the lock itself; the outcome: `withdrawn`,
        `released` or `unknown` (the lock is gone, or never heard of the task).
        """
        handle = self.client.get_workflow_handle(
            lock_workflow_id(await self._team(inp.task_id), inp.resource)
        )
        try:
            reply: WithdrawReply = await handle.execute_update(
                WITHDRAW_UPDATE,
                WithdrawInput(inp.task_id, reason="task-withdrew"),
                result_type=WithdrawReply,
            )
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            return "unknown"
        log.info("task lock request withdrawn", resource=inp.resource, outcome=reply.outcome)
        return reply.outcome

    async def _lease(
        self, inp: TaskLockLease, update: str, arg: RenewInput | ReleaseInput
    ) -> Grant | None:
        handle = self.client.get_workflow_handle(
            lock_workflow_id(await self._team(inp.task_id), inp.resource)
        )
        try:
            grant: Grant = await handle.execute_update(update, arg, result_type=Grant)
        except WorkflowUpdateFailedError as exc:
            if isinstance(exc.cause, ApplicationError) and exc.cause.type == STALE_TOKEN:
                log.info("task lock lease already gone", resource=inp.resource, update=update)
                return None
            raise
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            log.info("task lock gone", resource=inp.resource, update=update)  # terminated
            return None
        return grant

    async def _acquire(self, team: str, inp: TaskLockInput) -> AcquireReply:
        start: WithStartWorkflowOperation[LockState, None] = WithStartWorkflowOperation(
            LOCK_WORKFLOW,
            LockState(
                team,
                inp.resource,
                capacity=inp.capacity,
                history_limit=self.settings.lock_history_limit,
            ),
            id=lock_workflow_id(team, inp.resource),
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            task_queue=self.settings.task_queue,
            search_attributes=TypedSearchAttributes([SearchAttributePair(TEAM_KEY, team)]),
            static_summary=f"lock {inp.resource}",
        )
        ask = AcquireInput(
            holder=inp.task_id, kind=HolderKind.TASK.value, priority=inp.priority,
            ttl_seconds=inp.ttl_seconds, wait_seconds=inp.wait_seconds,
            max_waiters=self.settings.lock_max_waiters, capacity=inp.capacity,
        )  # fmt: skip
        try:
            reply: AcquireReply = await self.client.execute_update_with_start_workflow(
                ACQUIRE_UPDATE, ask, start_workflow_operation=start, result_type=AcquireReply
            )
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError) and cause.type == QUEUE_FULL:
                raise ApplicationError(
                    f"lock {inp.resource!r}: {cause.message}", type=QUEUE_FULL, non_retryable=True
                ) from None
            raise
        return reply

    async def _ended(self, task_id: str) -> bool:
        async with self.sessions() as session:
            status = await session.scalar(select(Task.status).where(Task.id == task_id))
        return status is not None and TaskStatus(status).terminal

    async def _team(self, task_id: str) -> str:
        async with self.sessions() as session:
            team = await session.scalar(select(Task.team_id).where(Task.id == task_id))
        if team is None:
            raise ApplicationError(f"task {task_id} has no row", non_retryable=True)
        return team
