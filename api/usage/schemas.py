"""Response models of the usage route."""

from __future__ import annotations

from pydantic import BaseModel


class UsageRow(BaseModel):
    """Totals of one group."""

    key: str
    tasks: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: float


class UsageReport(BaseModel):
    """The caller's team's usage grouped by `group_by`, and the grand total."""

    owner: str  # the caller
    team_id: str  # whose tasks are counted: every task of the team
    group_by: str
    rows: list[UsageRow]
    total: UsageRow
