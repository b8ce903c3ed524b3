"""Usage: the caller's tokens and cost, per agent, model or day."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ReaderDep, SessionDep
from api.usage.schemas import UsageReport
from api.usage.service import GroupBy, usage_report

router = APIRouter(prefix="/usage", tags=["usage"])


@router.get("", response_model=UsageReport)
async def usage(
    session: SessionDep,
    principal: ReaderDep,
    group_by: GroupBy = "agent",
    since: Annotated[datetime | None, Query(description="Tasks created at or after.")] = None,
    until: Annotated[datetime | None, Query(description="Tasks created before.")] = None,
) -> UsageReport:
    """Tokens and cost of the caller's tasks (each LLM step counted once, as it finished).

    By model, each step counts for the model it called; `tasks` counts the tasks that used it.
    """
    return await usage_report(session, principal, group_by, since, until)
