"""Request and response models of `/v1/locks`."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from cape.contracts.locks import HOLDER_PATTERN, LockPriority


class AcquireBody(BaseModel):
    """Ask for a lock."""

    model_config = ConfigDict(extra="forbid")

    holder: str = Field(
        pattern=HOLDER_PATTERN,
        description="Who holds it: a task id of your team (released when the task ends) or a "
        "free-form client id. Asking again with the same holder returns its grant or place.",
    )
    priority: LockPriority = Field(LockPriority.NORMAL, description="Grants go by priority first.")
    ttl_seconds: float = Field(60.0, gt=0, description="The lease; renew before it runs out.")
    wait_seconds: float = Field(
        0.0, ge=0, description="How long the request may wait in the queue; 0: grant now or 408."
    )


class WithdrawBody(BaseModel):
    """Leave the lock's queue."""

    model_config = ConfigDict(extra="forbid")

    holder: str = Field(pattern=HOLDER_PATTERN, description="The holder whose request waits.")


class WithdrawnOut(BaseModel):
    """What the withdraw did: the request left the queue, its grant was released, or nothing."""

    resource: str
    holder: str
    outcome: str = Field(
        description="`withdrawn` (it was waiting), `released` (it had been granted meanwhile: "
        "the lease was given back) or `unknown` (neither waiting nor holding)."
    )
    fence: int | None = Field(None, description="The released lease's fence (`released`).")


class TokenBody(BaseModel):
    """A lease's token (from the grant), for renew and release."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=64)
    ttl_seconds: float = Field(
        0.0, ge=0, description="Renew: the new lease from now (0: the lease's own length)."
    )


class GrantOut(BaseModel):
    """A granted lease: `token` renews and releases it, `fence` orders it among all grants."""

    resource: str
    holder: str
    status: str = "granted"
    token: str
    fence: int = Field(description="Grows with every grant of this resource, never repeats.")
    granted_at: datetime
    lease_expires_at: datetime


class WaitingOut(BaseModel):
    """Still queued: ask again (same body) to go on waiting or to receive the grant."""

    resource: str
    holder: str
    status: str = "waiting"
    position: int = Field(description="1: next to be granted.")
    wait_until: datetime


class WaiterOut(BaseModel):
    """One queued request, in grant order."""

    holder: str
    priority: str
    position: int
    since: datetime
    wait_until: datetime


class LockOut(BaseModel):
    """A lock: its holder and lease (none when free), the last fence, the queue in order."""

    resource: str
    holder: str | None
    holder_kind: str | None
    priority: str | None
    fence: int
    granted_at: datetime | None
    lease_expires_at: datetime | None
    waiters: list[WaiterOut]


class CheckOut(BaseModel):
    """Whether `fence` is the lease in force now (an external system refuses stale writes)."""

    resource: str
    fence: int
    current: bool
    current_fence: int | None = Field(description="The fence in force now; null when free.")


class RevokeBody(BaseModel):
    """Name the lease to end by its fence (an admin never sees a holder's token)."""

    model_config = ConfigDict(extra="forbid")

    fence: int = Field(ge=1, description="The fence of the lease in force (from GET).")


class RevokedOut(BaseModel):
    """The lease an admin ended (its token is stale now); the next waiter has been granted."""

    resource: str
    holder: str
    status: str = "revoked"
    fence: int
    granted_at: datetime
    lease_expires_at: datetime
