"""Marketplace analytics from real records: installs and the tasks of installed agents.

Aggregated over every team, never per team: installs and active installs count install rows;
tasks run, success rate, p50 duration, tokens and cost per task come from the task rows of the
agents installs registered. Trending compares installs plus successful runs of the last 7 days
with the 7 days before (`(recent + 1) / (previous + 1) - 1`).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cape.db.market_models import Install
from cape.db.models import Task, utcnow
from cape.domain import TERMINAL_TASK_STATUSES, TaskStatus

WEEK = timedelta(days=7)


@dataclass
class PackageStats:
    """The numbers of one package."""

    installs: int = 0
    active_installs: int = 0
    tasks: int = 0
    finished: int = 0
    succeeded: int = 0
    durations: list[float] = field(default_factory=list)
    tokens: int = 0
    cost: float = 0.0
    recent: int = 0  # installs and successful runs in the last 7 days
    previous: int = 0  # the same in the 7 days before

    @property
    def trending(self) -> float:
        """Growth of the last 7 days against the 7 before."""
        return round((self.recent + 1) / (self.previous + 1) - 1, 4)

    def as_dict(self) -> dict[str, Any]:
        """The numbers as the API shows them."""
        return {
            "installs": self.installs,
            "active_installs": self.active_installs,
            "tasks_run": self.tasks,
            "success_rate": round(self.succeeded / self.finished, 4) if self.finished else None,
            "p50_duration_seconds": (
                round(statistics.median(self.durations), 3) if self.durations else None
            ),
            "tokens_per_task": round(self.tokens / self.tasks, 1) if self.tasks else None,
            "cost_per_task_usd": round(self.cost / self.tasks, 6) if self.tasks else None,
            "trending": self.trending,
            "last_7_days": self.recent,
            "previous_7_days": self.previous,
        }


def _bucket(stats: PackageStats, when: datetime | None, now: datetime) -> None:
    if when is None:
        return
    age = now - (when if when.tzinfo else when.replace(tzinfo=UTC))
    if age <= WEEK:
        stats.recent += 1
    elif age <= 2 * WEEK:
        stats.previous += 1


async def package_stats(
    session: AsyncSession, names: list[str] | None = None
) -> dict[str, PackageStats]:
    """The stats of `names` (every package when None), from install and task rows."""
    query = select(Install)
    if names is not None:
        query = query.where(Install.package.in_(names))
    installs = list(await session.scalars(query))
    now = utcnow()
    stats: dict[str, PackageStats] = defaultdict(PackageStats)
    agent_of: dict[str, str] = {}
    for row in installs:
        entry = stats[row.package]
        entry.installs += 1
        entry.active_installs += int(row.active)
        _bucket(entry, row.installed_at, now)
        for agent in (row.agents or {}).values():
            agent_of[agent] = row.package
    if agent_of:
        tasks = await session.execute(
            select(
                Task.agent,
                Task.status,
                Task.started_at,
                Task.finished_at,
                Task.created_at,
                Task.prompt_tokens,
                Task.completion_tokens,
                Task.cost_usd,
            ).where(Task.agent.in_(list(agent_of)))
        )
        for agent, status, started, finished, created, prompt, completion, cost in tasks:
            entry = stats[agent_of[agent]]
            entry.tasks += 1
            entry.tokens += (prompt or 0) + (completion or 0)
            entry.cost += cost or 0.0
            if status in TERMINAL_TASK_STATUSES:
                entry.finished += 1
            if status == TaskStatus.SUCCEEDED:
                entry.succeeded += 1
                _bucket(entry, finished or created, now)
            if finished is not None:
                entry.durations.append(_seconds(started or created, finished))
    return dict(stats)


def overview(stats: dict[str, PackageStats], packages: int, versions: int) -> dict[str, Any]:
    """The platform's totals (`GET /v1/marketplace/analytics`)."""
    total = PackageStats()
    for entry in stats.values():
        total.installs += entry.installs
        total.active_installs += entry.active_installs
        total.tasks += entry.tasks
        total.finished += entry.finished
        total.succeeded += entry.succeeded
        total.durations += entry.durations
        total.tokens += entry.tokens
        total.cost += entry.cost
        total.recent += entry.recent
        total.previous += entry.previous
    return {"packages": packages, "versions": versions, **total.as_dict()}


def _seconds(start: datetime, end: datetime) -> float:
    aware = [t if t.tzinfo else t.replace(tzinfo=UTC) for t in (start, end)]
    return (aware[1] - aware[0]).total_seconds()
