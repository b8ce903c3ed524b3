"""Reading locks: the live state from the lock workflow, the listing from the database copy."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.locks.schemas import CheckOut, LockOut, WaiterOut
from api.locks.service import QUERY_TIMEOUT, lock_handle
from api.locks.workers import require_worker
from cape.auth import Principal
from cape.contracts.locks import LockState
from cape.db.lock_models import Lock
from cape.errors import NotFound
from cape.settings import Settings
from workflows.locks import LockWorkflow


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment and moment.tzinfo is None else moment


def row_out(row: Lock) -> LockOut:
    """A lock as its database copy holds it."""
    return LockOut(
        resource=row.resource, holder=row.holder, holder_kind=row.holder_kind,
        priority=row.priority, fence=row.fence, granted_at=_aware(row.granted_at),
        lease_expires_at=_aware(row.lease_expires_at),
        waiters=[WaiterOut(position=i, **{k: w[k] for k in ("holder", "priority", "since",
                                                             "wait_until")})
                 for i, w in enumerate(row.waiters, start=1)],
    )  # fmt: skip


def state_out(state: LockState) -> LockOut:
    """A lock as its workflow holds it now (never its tokens)."""
    first = state.holders[0] if state.holders else None
    return LockOut(
        resource=state.resource, holder=first and first.holder, holder_kind=first and first.kind,
        priority=first and first.priority, fence=state.fence,
        granted_at=first and datetime.fromisoformat(first.granted_at),
        lease_expires_at=first and datetime.fromisoformat(first.expires_at),
        waiters=[WaiterOut(holder=w.holder, priority=w.priority, position=i,
                           since=datetime.fromisoformat(w.since),
                           wait_until=datetime.fromisoformat(w.wait_until))
                 for i, w in enumerate(state.waiters, start=1)],
    )  # fmt: skip


async def live_state(temporal: Client, principal: Principal, resource: str) -> LockState | None:
    """The lock workflow's state now; None when the team never used this resource."""
    handle = lock_handle(temporal, principal.team_id, resource)
    try:
        state: LockState = await handle.query(LockWorkflow.lock_state, rpc_timeout=QUERY_TIMEOUT)
        return state
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def show(
    temporal: Client, reads: async_sessionmaker[AsyncSession], principal: Principal, resource: str
) -> LockOut:
    """The lock now, from its workflow (its database copy if the workflow cannot answer)."""
    try:
        state = await live_state(temporal, principal, resource)
    except RPCError:
        state = None  # no worker answers: the copy is at most one change behind
    if state is not None:
        return state_out(state)
    async with reads() as session:
        row = await session.get(Lock, (principal.team_id, resource))
    if row is None:
        raise NotFound(f"lock {resource!r} not found", details={"resource": resource})
    return row_out(row)


async def list_locks(session: AsyncSession, principal: Principal, limit: int) -> list[LockOut]:
    """The team's locks by resource name, from the database copy."""
    rows = await session.scalars(
        select(Lock).where(Lock.team_id == principal.team_id).order_by(Lock.resource).limit(limit)
    )
    return [row_out(row) for row in rows]


async def check_fence(
    temporal: Client, settings: Settings, principal: Principal, resource: str, fence: int
) -> CheckOut:
    """Whether `fence` is a lease in force now: held and not expired (asks the workflow).

    Only the workflow knows whether a lease ran out, so no worker polling is a 503 `no_worker`.
    """
    await require_worker(temporal, settings)
    state = await live_state(temporal, principal, resource)
    now = datetime.now(UTC)
    live = [
        g.fence
        for g in (state.holders if state else [])
        if datetime.fromisoformat(g.expires_at) > now
    ]
    return CheckOut(
        resource=resource, fence=fence, current=fence in live, current_fence=max(live, default=None)
    )
