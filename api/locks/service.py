"""Locks of the caller's team: every call goes to the resource's lock workflow.

Acquire is an update-with-start, so the first request creates the lock. The update never
blocks; a queued request then follows the lock's state (a query) for at most
`CAPE_LOCK_BLOCK_SECONDS`; a longer `wait_seconds` answers 202 with the queue position and the
caller asks again with the same holder (docs/locks.md).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, NoReturn

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.locks.schemas import AcquireBody, GrantOut, WaitingOut, WithdrawnOut
from api.locks.workers import no_worker, require_worker
from api.updates import UNPROCESSED, never_ran
from cape.auth import Principal
from cape.contracts.locks import (
    QUEUE_FULL,
    STALE_TOKEN,
    AcquireInput,
    AcquireReply,
    Grant,
    HolderKind,
    LockState,
    ReleaseInput,
    RenewInput,
    WithdrawInput,
    WithdrawReply,
    lock_workflow_id,
    valid_resource,
)
from cape.contracts.temporal import TEAM_KEY
from cape.db.models import Task
from cape.errors import Conflict, InvalidInput, LimitExceeded, TimedOut, Unavailable
from cape.settings import Settings
from workflows.locks import LockWorkflow

log = structlog.get_logger(__name__)
# How often a waiting request looks at the lock: the first in line every POLL_FIRST, the
# others POLL_STEP times their place, at most POLL_MAX (each look is a query to a worker).
POLL_FIRST = 0.03
POLL_STEP = 0.2
POLL_MAX = 1.0
GRACE = 5.0
BUSY_SECONDS = 30.0  # how long a lock that is too busy for one more update is asked again
QUERY_TIMEOUT = timedelta(seconds=5)


def check_resource(resource: str) -> str:
    """`resource` if it is a valid name; 422 naming the rule otherwise."""
    if not valid_resource(resource):
        raise InvalidInput(
            "invalid resource name: path.resource",
            details=[{"field": "path.resource", "message": "1-200 characters: letters, digits "
                      "and . _ : @ + = -, starting with a letter or digit"}],
        )  # fmt: skip
    return resource


def _limits(body: AcquireBody, settings: Settings) -> None:
    problems = []
    if body.ttl_seconds > settings.lock_max_ttl_seconds:
        problems.append(("body.ttl_seconds", settings.lock_max_ttl_seconds, "LOCK_MAX_TTL"))
    if body.wait_seconds > settings.lock_max_wait_seconds:
        problems.append(("body.wait_seconds", settings.lock_max_wait_seconds, "LOCK_MAX_WAIT"))
    if problems:
        raise InvalidInput(
            f"invalid lock request: {', '.join(p[0] for p in problems)}",
            details=[{"field": f, "message": f"at most {limit:g} (CAPE_{name}_SECONDS)"}
                     for f, limit, name in problems],
        )  # fmt: skip


async def holder_kind(
    reads: async_sessionmaker[AsyncSession], principal: Principal, holder: str
) -> HolderKind:
    """`task` when `holder` is a task of the caller's team (its end releases the lock)."""
    async with reads() as session:
        team = await session.scalar(select(Task.team_id).where(Task.id == holder))
    return HolderKind.TASK if team == principal.team_id else HolderKind.CLIENT


async def acquire(
    temporal: Client,
    settings: Settings,
    reads: async_sessionmaker[AsyncSession],
    principal: Principal,
    resource: str,
    body: AcquireBody,
) -> GrantOut | WaitingOut:
    """The grant, or the place in the queue once this request's wait is over.

    408 when the request's `wait_seconds` ran out without a grant.
    """
    _limits(body, settings)
    kind = await holder_kind(reads, principal, body.holder)
    # A wait that fits in one request is followed to its end (the lock's timer decides, a
    # moment after the wait runs out): such a request answers 200 or 408, never 202.
    fits = body.wait_seconds <= settings.lock_block_seconds
    ends = time.monotonic() + (body.wait_seconds + GRACE if fits else settings.lock_block_seconds)
    inp = AcquireInput(
        holder=body.holder, kind=kind.value, priority=body.priority.value,
        ttl_seconds=body.ttl_seconds, wait_seconds=body.wait_seconds,
        max_waiters=settings.lock_max_waiters,
    )  # fmt: skip
    reply = await call_update(
        temporal, settings, lambda: _acquire(temporal, settings, principal.team_id, resource, inp)
    )
    handle = lock_handle(temporal, principal.team_id, resource)
    while reply.outcome == "waiting" and time.monotonic() < ends:
        # The first in line looks often, the others less: queries are not free either.
        step = POLL_FIRST if reply.position == 1 else POLL_STEP * reply.position
        await asyncio.sleep(max(min(step, POLL_MAX, ends - time.monotonic()), 0.0))
        try:
            state: LockState = await handle.query(
                LockWorkflow.lock_state, rpc_timeout=QUERY_TIMEOUT
            )
        except RPCError as exc:
            # No worker answers right now (one was killed): the request stays queued in the
            # workflow, so go on waiting; the last position known is answered at the end.
            log.info("lock query failed while waiting", resource=resource, error=str(exc))
            continue
        reply = _reply_of(state, body.holder)
    if reply.outcome == "granted" and reply.grant is not None:
        return grant_out(resource, reply.grant)
    if reply.outcome == "timed_out":
        raise TimedOut(
            f"lock {resource!r} was not granted to {body.holder!r} within "
            f"{body.wait_seconds:g} s",
            details={"resource": resource, "holder": body.holder,
                     "wait_seconds": body.wait_seconds},
        )  # fmt: skip
    return WaitingOut(
        resource=resource, holder=body.holder, position=reply.position,
        wait_until=datetime.fromisoformat(reply.wait_until),
    )  # fmt: skip


def _reply_of(state: LockState, holder: str) -> AcquireReply:
    """What an acquire by `holder` would answer now, read from the lock's state."""
    if (held := next((g for g in state.holders if g.holder == holder), None)) is not None:
        return AcquireReply("granted", grant=held)
    for place, waiter in enumerate(state.waiters, start=1):
        if waiter.holder == holder:
            return AcquireReply("waiting", position=place, wait_until=waiter.wait_until)
    return AcquireReply("timed_out")


def _acquire(
    temporal: Client, settings: Settings, team_id: str, resource: str, inp: AcquireInput
) -> Any:
    start = WithStartWorkflowOperation(
        LockWorkflow.run,
        LockState(team_id, resource, history_limit=settings.lock_history_limit),
        id=lock_workflow_id(team_id, resource),
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        task_queue=settings.task_queue,
        search_attributes=TypedSearchAttributes([SearchAttributePair(TEAM_KEY, team_id)]),
        static_summary=f"lock {resource}",
    )
    return temporal.execute_update_with_start_workflow(
        LockWorkflow.acquire, inp, start_workflow_operation=start
    )


def lock_handle(temporal: Client, team_id: str, resource: str) -> WorkflowHandle[Any, Any]:
    """The handle of the team's lock workflow on `resource`."""
    return temporal.get_workflow_handle_for(LockWorkflow.run, lock_workflow_id(team_id, resource))


async def renew(
    temporal: Client,
    settings: Settings,
    principal: Principal,
    resource: str,
    token: str,
    ttl: float,
) -> GrantOut:
    """The lease of `token` extended by `ttl` seconds (its own length when 0); 409 if stale."""
    handle = lock_handle(temporal, principal.team_id, resource)
    update = RenewInput(token, ttl)
    grant = await call_update(
        temporal, settings, lambda: handle.execute_update(LockWorkflow.renew, update)
    )
    return grant_out(resource, grant)


async def release(
    temporal: Client, settings: Settings, principal: Principal, resource: str, token: str
) -> GrantOut:
    """Give the lease of `token` back (the next waiter is granted); 409 if stale."""
    handle = lock_handle(temporal, principal.team_id, resource)
    update = ReleaseInput(token)
    grant = await call_update(
        temporal, settings, lambda: handle.execute_update(LockWorkflow.release, update)
    )
    return grant_out(resource, grant)


async def withdraw(
    temporal: Client, settings: Settings, principal: Principal, resource: str, holder: str
) -> WithdrawnOut:
    """Take `holder`'s waiting request out of the queue (its grant released if given since)."""
    handle = lock_handle(temporal, principal.team_id, resource)
    update = WithdrawInput(holder, f"withdrawn by {principal.owner}")

    async def send() -> WithdrawReply:
        try:
            reply: WithdrawReply = await handle.execute_update(LockWorkflow.withdraw, update)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            return WithdrawReply("unknown")  # never asked for: nobody waits
        return reply

    reply = await call_update(temporal, settings, send)
    fence = reply.grant.fence if reply.grant is not None else None
    return WithdrawnOut(resource=resource, holder=holder, outcome=reply.outcome, fence=fence)


async def call_update(
    temporal: Client, settings: Settings, call: Callable[[], Awaitable[Any]]
) -> Any:
    """Make a lock update, its refusals as the caller's errors.

    No worker polling the task queue is a 503 `no_worker` before anything is sent, and so is
    an update no worker answers within `CAPE_LOCK_WORKER_TIMEOUT_SECONDS`. Temporal takes few
    updates in flight per workflow (10 by default) and refuses more with RESOURCE_EXHAUSTED;
    the client retries a while, and a burst on one lock gets more tries here (with jitter)
    before the caller sees a 503.
    """
    await require_worker(temporal, settings)
    limit = settings.lock_worker_timeout_seconds
    ends = time.monotonic() + BUSY_SECONDS
    while True:
        try:
            return await asyncio.wait_for(call(), limit)
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            # The client turns the timeout's cancellation into its own error.
            raise no_worker(settings, limit) from None
        except WorkflowUpdateFailedError as exc:
            # A worker killed or evicted mid-task leaves the update unprocessed: it never ran.
            if not never_ran(exc) or time.monotonic() > ends:
                _refused(exc.cause)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:  # never acquired: no lease to renew
                raise Conflict(_STALE, details={"reason": "stale_token"}) from None
            # Busy, or aborted while the lock was starting or continuing as new, or its
            # workflow task failed (a worker killed while running it): it never ran.
            if not never_ran(exc) or time.monotonic() > ends:
                raise
        await asyncio.sleep(random.uniform(0.05, 0.5))


_STALE = "the token is not the lock's current lease (released, expired or never granted)"


def _refused(cause: BaseException | None) -> NoReturn:
    failure = cause if isinstance(cause, ApplicationError) else None
    kind = failure.type if failure else None
    if kind == STALE_TOKEN:
        raise Conflict(_STALE, details={"reason": "stale_token"}) from None
    if kind == UNPROCESSED:  # still left unprocessed after the retries: the workers are unwell
        raise Unavailable(f"the lock's worker did not take the request: {cause}") from None
    if kind == QUEUE_FULL:
        raise LimitExceeded(
            str(failure.message if failure else cause),
            details={"limit": "lock_max_waiters"},
        ) from None
    raise InvalidInput(f"lock request refused: {cause}") from None


def grant_out(resource: str, grant: Grant) -> GrantOut:
    """A grant as the API shows it to its holder (with its token)."""
    return GrantOut(
        resource=resource, holder=grant.holder, token=grant.token, fence=grant.fence,
        granted_at=datetime.fromisoformat(grant.granted_at),
        lease_expires_at=datetime.fromisoformat(grant.expires_at),
    )  # fmt: skip
