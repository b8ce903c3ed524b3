"""`/v1/locks`: exclusive leases on named resources, with fencing tokens (docs/locks.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

import api.locks.admin as admin
import api.locks.service as service
import api.locks.views as views
from api.deps import (
    AdminDep,
    ReaderDep,
    ReadSessionsDep,
    SessionDep,
    SettingsDep,
    TemporalDep,
    WriterDep,
)
from api.locks.schemas import (
    AcquireBody,
    CheckOut,
    GrantOut,
    LockOut,
    RevokeBody,
    RevokedOut,
    TokenBody,
    WaitingOut,
    WithdrawBody,
    WithdrawnOut,
)

router = APIRouter(prefix="/locks", tags=["locks"])
ResourcePath = Annotated[str, Path(description="The resource's name, e.g. `device:42`.")]


@router.post(
    "/{resource}/acquire",
    response_model=GrantOut | WaitingOut,
    responses={202: {"model": WaitingOut, "description": "Still queued: ask again."}},
)
async def acquire_lock(
    resource: ResourcePath,
    body: AcquireBody,
    response: Response,
    temporal: TemporalDep,
    settings: SettingsDep,
    reads: ReadSessionsDep,
    principal: WriterDep,
) -> GrantOut | WaitingOut:
    """Acquire the lock: 200 with the lease `token` and `fence`, else 202 or 408.

    202 gives the queue position while still waiting (ask again with the same body); 408
    says `wait_seconds` ran out; 503 `no_worker` says no worker polls the locks' task queue.
    Grants go by priority, then arrival. The first request on a resource creates its lock.
    """
    out = await service.acquire(
        temporal, settings, reads, principal, service.check_resource(resource), body
    )
    if isinstance(out, WaitingOut):
        response.status_code = status.HTTP_202_ACCEPTED
    return out


@router.post("/{resource}/renew", response_model=GrantOut)
async def renew_lock(
    resource: ResourcePath,
    body: TokenBody,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: WriterDep,
) -> GrantOut:
    """Extend the lease from now by `ttl_seconds` (0: its own length); 409 for a stale token.

    503 `no_worker` when no worker polls the locks' task queue.
    """
    name = service.check_resource(resource)
    return await service.renew(temporal, settings, principal, name, body.token, body.ttl_seconds)


@router.post("/{resource}/release", response_model=GrantOut)
async def release_lock(
    resource: ResourcePath,
    body: TokenBody,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: WriterDep,
) -> GrantOut:
    """Release the lease (the next waiter is granted at once); 409 for a stale token.

    503 `no_worker` when no worker polls the locks' task queue.
    """
    name = service.check_resource(resource)
    return await service.release(temporal, settings, principal, name, body.token)


@router.post("/{resource}/withdraw", response_model=WithdrawnOut)
async def withdraw_request(
    resource: ResourcePath,
    body: WithdrawBody,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: WriterDep,
) -> WithdrawnOut:
    """Leave the queue: `holder`'s waiting request is dropped and the next waiter moves up.

    A request granted meanwhile has its lease released (`released`); a holder neither waiting
    nor holding is a no-op (`unknown`). 503 `no_worker` when no worker polls the locks' queue.
    """
    name = service.check_resource(resource)
    return await service.withdraw(temporal, settings, principal, name, body.holder)


@router.post("/{resource}/revoke", response_model=RevokedOut)
async def revoke_lock(
    resource: ResourcePath,
    body: RevokeBody,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: AdminDep,
) -> RevokedOut:
    """End the lease in force with `fence` without its token (admins; the dashboard's Release).

    The next waiter is granted at once and the holder's token is stale from then on; 409
    `not_current` when `fence` is not the lease in force any more.
    """
    name = service.check_resource(resource)
    return await admin.revoke(temporal, settings, principal, name, body.fence)


@router.get("", response_model=list[LockOut])
async def list_locks(
    session: SessionDep,
    principal: ReaderDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[LockOut]:
    """The team's locks by name, from the database copy: holder, lease, fence and queue."""
    return await views.list_locks(session, principal, limit)


@router.get("/{resource}", response_model=LockOut)
async def show_lock(
    resource: ResourcePath, temporal: TemporalDep, reads: ReadSessionsDep, principal: ReaderDep
) -> LockOut:
    """The lock now: holder, lease expiry, last fence and the waiters in grant order."""
    return await views.show(temporal, reads, principal, service.check_resource(resource))


@router.get("/{resource}/check", response_model=CheckOut)
async def check_lock_fence(
    resource: ResourcePath,
    fence: Annotated[int, Query(ge=0, description="The fence the writer holds.")],
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: ReaderDep,
) -> CheckOut:
    """Whether `fence` is still the lease in force.

    An external system refuses a write that carries any other fence (a holder whose lease ran
    out and does not know it yet). 503 `no_worker` when no worker polls the locks' queue.
    """
    name = service.check_resource(resource)
    return await views.check_fence(temporal, settings, principal, name, fence)
