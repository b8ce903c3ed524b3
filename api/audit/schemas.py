"""Audit entries as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AuditEntryOut(BaseModel):
    """Who did what to which object, when, from where, and how it ended."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    ts: datetime
    actor: str = Field(description="The user's name (or a system name such as `system`).")
    user_id: str | None
    key_id: str | None = Field(description="The API key's id, or `jwt:<subject>` for a JWT.")
    action: str = Field(description="e.g. `task.create`, `task.cancel`, `key.revoke`.")
    resource_type: str
    resource_id: str
    address: str | None = Field(description="The client's IP address.")
    outcome: str = Field(description="`ok`, `refused` (4xx) or `failed` (5xx).")
    status_code: int | None = Field(description="The HTTP status, for entries of a request.")
    details: dict[str, Any]


class AuditPage(BaseModel):
    """One page of entries, newest first, and the cursor of the next (None: the last page)."""

    items: list[AuditEntryOut]
    next_cursor: str | None
