"""Registry rows: version statuses, an agent's versions, its default and the audit trail."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cape.audit import record
from cape.auth import Principal
from cape.db.agent_models import Agent, AgentVersion
from cape.registry.semver import Version, try_parse
from cape.registry.spec import AgentSpec

SYSTEM_OWNER = "system"  # the owner of the built-in agents


class VersionStatus(StrEnum):
    """Lifecycle of an agent version (docs/architecture.md, Statuses)."""

    DRAFT = "draft"
    PUBLISHED = "published"
    DEPRECATED = "deprecated"
    YANKED = "yanked"

    @property
    def startable(self) -> bool:
        """Whether tasks may start on a version in this status (by range or default)."""
        return self in (VersionStatus.PUBLISHED, VersionStatus.DEPRECATED)


_LOWEST = Version(-1, 0, 0)


def precedence(row: AgentVersion) -> Version:
    """The row's version for ordering (a version that does not parse sorts first)."""
    return try_parse(row.version) or _LOWEST


def ordered(rows: list[AgentVersion]) -> list[AgentVersion]:
    """Versions in ascending semver precedence."""
    return sorted(rows, key=precedence)


async def versions_of(session: AsyncSession, name: str) -> list[AgentVersion]:
    """Every version of agent `name`, in ascending semver precedence."""
    rows = await session.scalars(select(AgentVersion).where(AgentVersion.agent == name))
    return ordered(list(rows))


def newest(rows: list[AgentVersion], *statuses: VersionStatus) -> AgentVersion | None:
    """The highest version among `rows` in one of `statuses`."""
    found = [row for row in rows if row.status in statuses]
    return max(found, key=precedence) if found else None


def default_row(agent: Agent, rows: list[AgentVersion]) -> AgentVersion | None:
    """The version tasks get when they name none.

    The explicitly set default when it can start tasks, else the newest published version,
    else the newest deprecated one.
    """
    if agent.default_version is not None:
        for row in rows:
            if row.version == agent.default_version and VersionStatus(row.status).startable:
                return row
    return newest(rows, VersionStatus.PUBLISHED) or newest(rows, VersionStatus.DEPRECATED)


def display_row(agent: Agent, rows: list[AgentVersion]) -> AgentVersion | None:
    """The version the agent's description, category and tags come from."""
    candidates = [row for row in rows if row.status != VersionStatus.YANKED] or rows
    return default_row(agent, rows) or (max(candidates, key=precedence) if candidates else None)


def refresh(agent: Agent, rows: list[AgentVersion]) -> None:
    """Copy description, category and tags from the agent's display version onto its row."""
    row = display_row(agent, rows)
    if row is None:
        return
    spec = AgentSpec.model_validate(row.spec)
    # Assign only changes, so an unchanged agent is not rewritten (nor its updated_at bumped).
    if agent.description != spec.description:
        agent.description = spec.description
    if agent.category != spec.category:
        agent.category = spec.category
    if agent.tags != spec.tags:
        agent.tags = list(spec.tags)


def audit(
    session: AsyncSession, actor: Principal | str, action: str, name: str, **details: Any
) -> None:
    """Add an audit entry for a change of agent `name` to the session's transaction."""
    record(session, actor, action, "agent", name, **details)
