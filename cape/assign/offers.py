"""What the assigner reads: the team's published capable agents, their load and their history.

Every read is scoped to one team: its own agents and the built-ins, its own tasks. History is
the tasks table (no separate store), so a record is exactly what the task list shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cape.db.agent_models import Agent, AgentVersion
from cape.db.models import Task
from cape.domain import TERMINAL_TASK_STATUSES, TaskStatus
from cape.registry.resolve import spec_of
from cape.registry.spec import AgentSpec
from cape.registry.store import VersionStatus, default_row, newest

# The outcomes a record counts: canceled and rejected tasks were ended by a person, not by how
# well the agent did, so they count neither for nor against it.
OUTCOMES = (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.TIMED_OUT)
RECORD_WINDOW = 200  # the latest finished tasks per agent a record is computed from


@dataclass(frozen=True)
class Offer:
    """A published agent version the team may assign tasks to, and what each version declared.

    `declared` maps every non-draft version of the agent to its capabilities, so a task run on
    an older version still counts for the capabilities that version declared.
    """

    agent: str
    version: str
    spec: AgentSpec
    declared: dict[str, frozenset[str]]


@dataclass(frozen=True)
class Run:
    """One finished task of an agent, as a record counts it."""

    version: str
    succeeded: bool
    cost_usd: float
    seconds: float | None


@dataclass(frozen=True)
class Record:
    """An agent's record for one capability: its finished runs and how they went."""

    runs: int = 0
    succeeded: int = 0
    mean_cost_usd: float | None = None
    mean_duration_seconds: float | None = None

    @property
    def success_rate(self) -> float | None:
        """Succeeded runs over all counted runs (None before the first)."""
        return self.succeeded / self.runs if self.runs else None


async def team_offers(session: AsyncSession, team_id: str) -> list[Offer]:
    """The team's agents and the built-ins that have a published version, by name.

    The version offered is the agent's default when that is published, else its newest
    published one (a deprecated default is not offered for new work).
    """
    agents = list(
        await session.scalars(
            select(Agent)
            .where(or_(Agent.team_id == team_id, Agent.builtin.is_(True)))
            .order_by(Agent.name)
        )
    )
    if not agents:
        return []
    rows = await session.scalars(
        select(AgentVersion).where(
            AgentVersion.agent.in_([a.name for a in agents]),
            AgentVersion.status != VersionStatus.DRAFT,
        )
    )
    by_agent: dict[str, list[AgentVersion]] = {}
    for row in rows:
        by_agent.setdefault(row.agent, []).append(row)
    offers = []
    for agent in agents:
        versions = by_agent.get(agent.name, [])
        found = default_row(agent, versions)
        if found is None or found.status != VersionStatus.PUBLISHED:
            found = newest(versions, VersionStatus.PUBLISHED)
        if found is None:
            continue
        declared = {v.version: frozenset(spec_of(v).capabilities) for v in versions}
        offers.append(Offer(agent.name, found.version, spec_of(found), declared))
    return offers


async def active_counts(session: AsyncSession, team_id: str, agents: list[str]) -> dict[str, int]:
    """Tasks of each agent in the team that have not ended (queued, running, waiting, paused).

    Queued tasks count: each is about to take a slot of `max_concurrent`, or already waits
    for one, so a new task would wait behind it either way.
    """
    if not agents:
        return {}
    rows = await session.execute(
        select(Task.agent, func.count())
        .where(
            Task.team_id == team_id,
            Task.agent.in_(agents),
            Task.status.not_in([str(s) for s in TERMINAL_TASK_STATUSES]),
        )
        .group_by(Task.agent)
    )
    return {agent: int(count) for agent, count in rows.all()}


async def recent_runs(
    session: AsyncSession, team_id: str, agents: list[str]
) -> dict[str, list[Run]]:
    """Each agent's latest finished tasks in the team (at most RECORD_WINDOW), newest first.

    One query for all agents: a window function numbers each agent's tasks, so the table is
    read once however many candidates there are.
    """
    if not agents:
        return {}
    place = (
        func.row_number()
        .over(partition_by=Task.agent, order_by=(Task.created_at.desc(), Task.id.desc()))
        .label("place")
    )
    numbered = (
        select(
            Task.agent,
            Task.agent_version,
            Task.status,
            Task.cost_usd,
            Task.started_at,
            Task.finished_at,
            Task.created_at,
            Task.id,
            place,
        )
        .where(
            Task.team_id == team_id,
            Task.agent.in_(agents),
            Task.status.in_([str(s) for s in OUTCOMES]),
        )
        .subquery()
    )
    rows = await session.execute(
        select(
            numbered.c.agent,
            numbered.c.agent_version,
            numbered.c.status,
            numbered.c.cost_usd,
            numbered.c.started_at,
            numbered.c.finished_at,
        )
        .where(numbered.c.place <= RECORD_WINDOW)
        .order_by(numbered.c.agent, numbered.c.created_at.desc(), numbered.c.id.desc())
    )
    runs: dict[str, list[Run]] = {}
    for agent, version, status, cost, start, end in rows.all():
        run = Run(version, status == TaskStatus.SUCCEEDED, float(cost or 0.0), _seconds(start, end))
        runs.setdefault(agent, []).append(run)
    return runs


def record_of(runs: list[Run], offer: Offer, capability: str) -> Record:
    """The record of `offer`'s agent for `capability`: runs on versions that declared it."""
    counted = [r for r in runs if capability in offer.declared.get(r.version, frozenset())]
    if not counted:
        return Record()
    durations = [r.seconds for r in counted if r.seconds is not None]
    return Record(
        runs=len(counted),
        succeeded=sum(r.succeeded for r in counted),
        mean_cost_usd=sum(r.cost_usd for r in counted) / len(counted),
        mean_duration_seconds=sum(durations) / len(durations) if durations else None,
    )


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max((end - start).total_seconds(), 0.0)
