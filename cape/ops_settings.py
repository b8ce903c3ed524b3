"""Operator settings of the row/workflow reconciler and admin access (a mixin of `Settings`).

List values are read from the environment as JSON (`CAPE_ADMIN_OWNERS='["ops"]'`).
"""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings


class OpsSettings(BaseSettings):
    """How often task rows are checked against Temporal, and who may see every owner's."""

    # 0 turns the reconciler off (no pass at API start, none on the timer).
    reconcile_interval_seconds: float = Field(10.0, ge=0)
    # A row younger than this may still be in the hands of the POST that created it: its
    # start attempt (bounded by workflow_start_timeout_seconds) is left to finish first.
    reconcile_grace_seconds: float = Field(15.0, gt=0)
    # A queued row without a workflow is started when younger than this, failed when older.
    reconcile_start_within_seconds: float = Field(24 * 3600.0, gt=0)
    # Above the Temporal client's own retry budget (about 10 s), so an unreachable Temporal
    # ends in the clean "nothing was created" answer rather than this timeout.
    workflow_start_timeout_seconds: float = Field(12.0, gt=0)
    admin_owners: list[str] = Field(
        default_factory=list,
        description="Owners whose keys see and repair every owner's tasks on /v1/admin routes.",
    )

    @model_validator(mode="after")
    def _grace_outlasts_start(self) -> OpsSettings:
        if self.reconcile_grace_seconds <= self.workflow_start_timeout_seconds:
            raise ValueError(
                "CAPE_RECONCILE_GRACE_SECONDS must exceed CAPE_WORKFLOW_START_TIMEOUT_SECONDS "
                f"({self.reconcile_grace_seconds:g} <= {self.workflow_start_timeout_seconds:g}): "
                "the reconciler must not start a task its POST is still starting"
            )
        return self
