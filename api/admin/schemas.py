"""Response models of the admin routes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ReconcileOut(BaseModel):
    """A scan (and, after POST, its repair): what disagrees, and what was done about it."""

    scope: str = Field(description="`team:<id>` (the caller's team's tasks) or `all`.")
    rows_checked: int
    workflows_checked: int
    findings: list[dict[str, Any]] = Field(
        description="kind, task_id, owner, row_status, workflow_status, action, reason, "
        "repaired, problem, final_status, error."
    )
    events_checked: int = Field(description="Events pending past the grace period.")
    events: list[dict[str, Any]] = Field(
        description="Pending events whose routing workflow is missing: event_id, team_id, "
        "published_by, type, priority, age_seconds, action (`route`), reason, repaired, problem."
    )
    repaired: int = Field(description="Findings (tasks and events) repaired by this call.")
    left: int = Field(description="Findings (tasks and events) not repaired.")
    reconciler: dict[str, Any] = Field(description="The API's timer: passes and repair counts.")
