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
