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
    reconciler: dict[str, Any] = Field(description="The API's timer: passes and repair counts.")
