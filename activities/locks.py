"""The lock workflow's side effects: its database copy, and watching a holder that is a task."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.service import RPCError, RPCStatusCode

from activities.heartbeat import heartbeating
from cape.contracts.locks import SaveInput, WatchInput
from cape.db.lock_models import Lock

log = structlog.get_logger(__name__)
# A holder whose workflow cannot be found this many times in a row has ended (or never was).
NOT_FOUND_LIMIT = 3
POLL_SECONDS = 2.0


class LockActivities:
    """Built in the worker with the database and the worker's Temporal client."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], client: Client) -> None:
        self.sessions = sessions
        self.client = client

    @activity.defn(name="save_lock")
    async def save_lock(self, inp: SaveInput) -> None:
        """Write the lock's state to its `locks` row unless a newer version is there already."""
        state = inp.state
        async with self.sessions() as session:
            row = await session.get(Lock, (state.team_id, state.resource))
            if row is not None and row.version >= state.version:
                return
            if row is None:
                row = Lock(team_id=state.team_id, resource=state.resource)
                session.add(row)
            first = state.holders[0] if state.holders else None
            row.holder = first.holder if first else None
            row.holder_kind = first.kind if first else None
            row.priority = first.priority if first else None
            row.granted_at = datetime.fromisoformat(first.granted_at) if first else None
            row.lease_expires_at = datetime.fromisoformat(first.expires_at) if first else None
            row.fence = state.fence
            row.capacity = state.capacity
            row.version = state.version
            row.waiters = [_waiter(w) for w in state.waiters]
            await session.commit()

    @activity.defn(name="watch_lock_holder")
    async def watch_holder(self, inp: WatchInput) -> str:
        """Return how the holder's workflow ended, once it has.

        Any end counts (completed, failed, canceled, terminated, timed out), and so does a
        workflow that cannot be found.
        """
        handle = self.client.get_workflow_handle(inp.holder)
        missing = 0
        async with heartbeating():
            while True:
                try:
                    described = await handle.describe()
                except RPCError as exc:
                    if exc.status != RPCStatusCode.NOT_FOUND:
                        raise
                    missing += 1
                    if missing >= NOT_FOUND_LIMIT:
                        return "not-found"
                    await asyncio.sleep(POLL_SECONDS)
                    continue
                missing = 0
                if described.status != WorkflowExecutionStatus.RUNNING:
                    return _ended(described.status)
                # Long-polls the close event: a terminated task is noticed at once.
                try:
                    await asyncio.wait_for(handle.result(), timeout=POLL_SECONDS * 5)
                    return "completed"
                except TimeoutError:
                    continue
                except WorkflowFailureError:
                    return "failed"


def _ended(status: WorkflowExecutionStatus | None) -> str:
    return status.name.lower() if status is not None else "unknown"


def _waiter(waiter: Any) -> dict[str, Any]:
    return {
        "holder": waiter.holder,
        "kind": waiter.kind,
        "priority": waiter.priority,
        "since": waiter.since,
        "wait_until": waiter.wait_until,
    }
