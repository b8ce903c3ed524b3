"""Per-team limits' defaults and the audit trail's view of client addresses."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings


class LimitSettings(BaseSettings):
    """Defaults of the per-team limits (a team's own value wins; 0 means unlimited)."""

    rate_limit_rpm: int = Field(0, ge=0, description="Requests per minute per key; 0: no limit.")
    max_running_tasks: int = Field(0, ge=0, description="Unfinished tasks per team; 0: no limit.")
    daily_token_quota: int = Field(
        0, ge=0, description="Tokens per team per UTC day, for new tasks; 0: no limit."
    )
    trust_forwarded_for: bool = Field(
        False, description="Take the client address from X-Forwarded-For (behind a proxy)."
    )
    delegation_max_depth: int = Field(
        3, ge=0, le=100, description="How deep delegated tasks may nest (`delegate`); 0: none."
    )
    delegation_max_children: int = Field(
        8, ge=0, le=1000, description="Tasks one task may delegate in all, across its runs."
    )
    lock_max_ttl_seconds: float = Field(
        86_400.0, gt=0, description="The longest lease a lock grants (`ttl_seconds`)."
    )
    lock_max_wait_seconds: float = Field(
        86_400.0, ge=0, description="The longest a request may wait in a lock's queue."
    )
    lock_max_waiters: int = Field(1_000, ge=1, description="Requests that may wait for one lock.")
    lock_history_limit: int = Field(
        2_000, ge=50, description="History events after which a lock workflow continues as new."
    )
    lock_worker_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="How long a lock update waits for a worker to answer before a 503 "
        "`no_worker` (a request is refused at once when no worker polls at all).",
    )
    lock_block_seconds: float = Field(
        20.0,
        gt=0,
        description="How long one acquire request is held open waiting for its grant; a "
        "longer wait answers 202 and the caller asks again.",
    )
