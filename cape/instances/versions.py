"""Which agent version an instance's next task runs: its range, resolved at each task.

A newer published version is picked up between tasks, never inside one (a task is pinned to
the version its row names). Yanked versions and drafts never run: a range moves on to the next
allowed version; an exact version that was yanked, or a range nothing allowed matches any
more, is the instance's error, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from cape.db.agent_models import Agent, AgentVersion
from cape.registry.semver import parse_range
from cape.registry.store import VersionStatus, default_row, newest, precedence, versions_of


@dataclass(frozen=True)
class Choice:
    """The version to run, or why there is none."""

    row: AgentVersion | None
    reason: str | None = None


def _yanked(rows: list[AgentVersion]) -> str:
    gone = [f"{r.version} yanked: {r.status_reason or 'no reason given'}" for r in rows
            if r.status == VersionStatus.YANKED]  # fmt: skip
    return f" ({'; '.join(gone)})" if gone else ""


def pick(agent: Agent, rows: list[AgentVersion], wanted: str) -> Choice:
    """The version of `agent` that `wanted` (a version, a range, or empty) allows now."""
    name = agent.name
    if not wanted:
        row = default_row(agent, rows)
        if row is None:
            return Choice(None, f"agent {name!r} has no published version{_yanked(rows)}")
        return Choice(row)
    wanted_range = parse_range(wanted, field="agent_version")
    matching = [r for r in rows if wanted_range.matches(precedence(r))]
    if wanted_range.exact is not None:
        matching = [r for r in rows if r.version == wanted] or matching
    row = newest(matching, VersionStatus.PUBLISHED) or newest(matching, VersionStatus.DEPRECATED)
    if row is None:
        return Choice(
            None, f"no allowed version of agent {name!r} matches {wanted!r}{_yanked(matching)}"
        )
    return Choice(row)


async def choose(session: AsyncSession, agent_name: str, wanted: str) -> Choice:
    """The version an instance of `agent_name` with range `wanted` runs its next task on."""
    agent = await session.get(Agent, agent_name, populate_existing=True)
    if agent is None:
        return Choice(None, f"agent {agent_name!r} no longer exists")
    return pick(agent, await versions_of(session, agent_name), wanted)
