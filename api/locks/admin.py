"""An admin ends a lease it does not hold: by the lease's fence, since tokens are never shown."""

from __future__ import annotations

from datetime import datetime

from temporalio.client import Client

from api.locks.schemas import RevokedOut
from api.locks.service import call_update, lock_handle
from api.locks.views import live_state
from api.locks.workers import require_worker
from cape.auth import Principal
from cape.contracts.locks import LockState, ReleaseInput
from cape.errors import Conflict, NotFound
from cape.settings import Settings
from workflows.locks import LockWorkflow


async def revoke(
    temporal: Client, settings: Settings, principal: Principal, resource: str, fence: int
) -> RevokedOut:
    """Release the lease in force whose fence is `fence` (the next waiter is granted).

    The fence, not the holder, names the lease: a lease granted since the admin looked has
    another fence and is left alone (409).
    """
    await require_worker(temporal, settings)
    state = await live_state(temporal, principal, resource)
    if state is None:
        raise NotFound(f"lock {resource!r} not found", details={"resource": resource})
    grant = next((g for g in state.holders if g.fence == fence), None)
    if grant is None:
        raise Conflict(
            f"fence {fence} is not a lease in force on {resource!r} (released, expired or "
            "never granted)",
            details={"reason": "not_current", "fence": fence, "current_fence": _held(state)},
        )
    handle = lock_handle(temporal, principal.team_id, resource)
    reason = f"revoked by {principal.owner}"
    update = ReleaseInput(grant.token, reason)
    await call_update(
        temporal, settings, lambda: handle.execute_update(LockWorkflow.release, update)
    )
    return RevokedOut(
        resource=resource, holder=grant.holder, fence=grant.fence,
        granted_at=datetime.fromisoformat(grant.granted_at),
        lease_expires_at=datetime.fromisoformat(grant.expires_at),
    )  # fmt: skip


def _held(state: LockState) -> int | None:
    return state.holders[0].fence if state.holders else None
