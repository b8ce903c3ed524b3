"""Resource locks: the lock workflow's names, its typed inputs and the state it carries.

One `LockWorkflow` per (team, resource) holds the holder, its lease, the fence counter and the
waiters in grant order; the API talks to it with updates, the database copy is written by an
activity it runs. Plain dataclasses (no `from __future__ import annotations`, see
`task_input.py`): field names never change, new fields get defaults.
"""

import hashlib
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

LOCK_WORKFLOW: Final = "LockWorkflow"
ACQUIRE_UPDATE: Final = "acquire"
RENEW_UPDATE: Final = "renew"
RELEASE_UPDATE: Final = "release"
WITHDRAW_UPDATE: Final = "withdraw"
LOCK_STATE_QUERY: Final = "lock_state"
# Failure types of rejected updates: the API maps each to its HTTP status.
STALE_TOKEN: Final = "StaleToken"  # 409
QUEUE_FULL: Final = "LockQueueFull"  # 429
# A resource name: what may follow `/v1/locks/` in a URL without escaping.
RESOURCE_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:@+=-]{0,199}$"
HOLDER_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:@+=/-]{0,127}$"


class LockPriority(StrEnum):
    """The event priorities; grants go to the highest, then to the earliest arrival."""

    CRITICAL = "critical"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


PRIORITY_RANK: Final = {
    LockPriority.CRITICAL: 0,
    LockPriority.HIGH: 1,
    LockPriority.NORMAL: 2,
    LockPriority.LOW: 3,
}


class HolderKind(StrEnum):
    """What a holder is: a task (watched, released when its workflow ends) or a client id."""

    TASK = "task"
    CLIENT = "client"


def valid_resource(name: str) -> bool:
    """Whether `name` is a resource name the API accepts."""
    return re.fullmatch(RESOURCE_PATTERN, name) is not None


def lock_workflow_id(team_id: str, resource: str) -> str:
    """The lock workflow's id: one per team and resource, never shared between teams.

    The digest keeps ids apart that a plain join could confuse (a team id with a colon).
    """
    digest = hashlib.sha256(f"{team_id}\x00{resource}".encode()).hexdigest()[:16]
    return f"lock-{digest}-{resource}"


@dataclass
class Grant:
    """A holder's lease: its token (the secret to renew and release) and its fence."""

    holder: str
    kind: str
    token: str
    fence: int
    priority: str
    granted_at: str  # ISO 8601 UTC, from the workflow's clock
    expires_at: str
    ttl_seconds: float


@dataclass
class Waiter:
    """A request in the queue: its rank, arrival number and how long it may still wait."""

    holder: str
    kind: str
    priority: str
    ttl_seconds: float
    arrival: int
    since: str
    wait_until: str


@dataclass
class LockState:
    """Everything the lock knows; the input of each run (carried across continue-as-new)."""

    team_id: str
    resource: str
    fence: int = 0  # the last fence handed out: each grant takes the next one
    arrivals: int = 0
    version: int = 0  # bumped on every change: the database copy keeps only newer ones
    capacity: int = 1  # 1: an exclusive lock; more: a counting semaphore
    history_limit: int = 2_000  # events after which the run continues as new
    holders: list[Grant] = field(default_factory=list)
    waiters: list[Waiter] = field(default_factory=list)


@dataclass
class AcquireInput:
    """Ask for the lock: granted now, queued (until `wait_seconds` from now) or refused.

    The update never blocks: Temporal allows few updates in flight per workflow (10 by
    default), and a blocked acquire would hold a place the holder's release needs.
    """

    holder: str
    kind: str = HolderKind.CLIENT.value
    priority: str = LockPriority.NORMAL.value
    ttl_seconds: float = 60.0
    wait_seconds: float = 0.0
    max_waiters: int = 1000
    capacity: int = 0  # above 0: the lock's capacity from now on (an agent's max_concurrent)


@dataclass
class RenewInput:
    """Extend the lease of `token` by `ttl_seconds` from now (its own ttl when 0)."""

    token: str
    ttl_seconds: float = 0.0


@dataclass
class ReleaseInput:
    """Give the lock back; `reason` is logged and kept in the database copy's history."""

    token: str
    reason: str = "released"


@dataclass
class WithdrawInput:
    """Leave the queue: `holder`'s waiting request is dropped (its grant released if given)."""

    holder: str
    reason: str = "withdrawn"


@dataclass
class WithdrawReply:
    """`withdrawn` (it was waiting), `released` (granted meanwhile: given back) or `unknown`."""

    outcome: str
    grant: Grant | None = None


@dataclass
class AcquireReply:
    """`granted` (with the grant), `waiting` (with the position, 1-based) or `timed_out`."""

    outcome: str
    grant: Grant | None = None
    position: int = 0
    wait_until: str = ""


@dataclass
class WatchInput:
    """Wait until the workflow `holder` (a task) has ended, for the grant with `fence`."""

    holder: str
    fence: int


@dataclass
class SaveInput:
    """The lock's state to copy into the `locks` table."""

    state: LockState


@dataclass
class TaskLockInput:
    """A task asks for one of its locks (holder: the task id, a task holder of its team)."""

    task_id: str
    resource: str
    capacity: int = 1
    priority: str = LockPriority.NORMAL.value
    ttl_seconds: float = 86_400.0
    wait_seconds: float = 86_400.0


@dataclass
class TaskLockLease:
    """A task renews (`ttl_seconds` > 0) or releases (`ttl_seconds` 0) a lease it holds."""

    task_id: str
    resource: str
    token: str
    ttl_seconds: float = 0.0
    reason: str = "task-ended"
