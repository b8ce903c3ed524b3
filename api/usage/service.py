"""Totals of the caller's tokens and cost, grouped by agent, model or day."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Literal

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.usage.schemas import UsageReport, UsageRow
from cape.auth import Principal
from cape.db.models import Task, TaskStep
from cape.domain import StepKind, StepStatus

GroupBy = Literal["agent", "model", "day"]


async def usage_report(
    session: AsyncSession,
    principal: Principal,
    group_by: GroupBy,
    since: datetime | None,
    until: datetime | None,
) -> UsageReport:
    """The team's usage of tasks created in [since, until), grouped by `group_by`."""
    filters = [Task.team_id == principal.team_id]
    if since is not None:
        filters.append(Task.created_at >= since)
    if until is not None:
        filters.append(Task.created_at < until)
    if group_by == "agent":
        grouped = (
            select(
                Task.agent, func.count(), func.sum(Task.prompt_tokens),
                func.sum(Task.completion_tokens), func.sum(Task.cost_usd),
            )
            .where(*filters)
            .group_by(Task.agent)
            .order_by(Task.agent)
        )  # fmt: skip
        rows = [_row(str(k), n, p, c, cost) for k, n, p, c, cost in await session.execute(grouped)]
    elif group_by == "model":
        # Per LLM step and the model it called: a fallback's tokens go to the fallback.
        model = TaskStep.input["model"].as_string()
        grouped = (
            select(
                model, func.count(func.distinct(TaskStep.task_id)),
                func.sum(TaskStep.usage["prompt_tokens"].as_integer()),
                func.sum(TaskStep.usage["completion_tokens"].as_integer()),
                func.sum(TaskStep.usage["cost_usd"].as_float()),
            )
            .join(Task, Task.id == TaskStep.task_id)
            .where(
                *filters, TaskStep.kind == StepKind.LLM, TaskStep.status == StepStatus.SUCCEEDED,
                # A fork's copies of its parent's steps were paid for by the parent.
                or_(Task.fork_step.is_(None), TaskStep.step_no >= Task.fork_step),
            )
            .group_by(model)
            .order_by(model)
        )  # fmt: skip
        rows = [_row(str(k), n, p, c, cost) for k, n, p, c, cost in await session.execute(grouped)]
    else:
        # Days are grouped here: date truncation is spelled differently by SQLite and PostgreSQL.
        days: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0, 0.0])
        per_task = select(
            Task.created_at, Task.prompt_tokens, Task.completion_tokens, Task.cost_usd
        ).where(*filters)
        for created, prompt, completion, cost in await session.execute(per_task):
            day = days[created.date().isoformat()]
            day[0] += 1
            day[1] += prompt
            day[2] += completion
            day[3] += cost
        rows = [_row(k, *v) for k, v in sorted(days.items())]
    total = _row(
        "total",
        sum(r.tasks for r in rows),
        sum(r.prompt_tokens for r in rows),
        sum(r.completion_tokens for r in rows),
        sum(r.cost_usd for r in rows),
    )
    return UsageReport(
        owner=principal.owner, team_id=principal.team_id, group_by=group_by, rows=rows, total=total
    )


def _row(
    key: str, tasks: float, prompt: float | None, completion: float | None, cost: float | None
) -> UsageRow:
    p, c = int(prompt or 0), int(completion or 0)
    return UsageRow(
        key=key, tasks=int(tasks), prompt_tokens=p, completion_tokens=c, total_tokens=p + c,
        cost_usd=round(float(cost or 0.0), 6),
    )  # fmt: skip
