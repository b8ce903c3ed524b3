"""Which agent version a task runs: resolution of a version or range, and pinned specs.

Resolution rules (issue 3 contract): no version means the agent's default; an exact version
starts if published or deprecated (with a warning), a yanked one is refused (409) and a draft
only for its owner; a range picks the highest matching published version, else the highest
matching deprecated one. Published specs never change, so parsed specs are cached in-process.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cape.auth import Principal
from cape.db.agent_models import Agent, AgentVersion
from cape.errors import Conflict, NotFound
from cape.registry.semver import parse_range
from cape.registry.spec import AgentSpec
from cape.registry.store import VersionStatus, default_row, newest, precedence, versions_of

SPEC_CACHE_SIZE = 512
_specs: OrderedDict[tuple[str, str], AgentSpec] = OrderedDict()


@dataclass(frozen=True)
class ResolvedAgent:
    """The version a task will run, its spec and what the caller should be told."""

    spec: AgentSpec
    version: str
    status: str
    warnings: list[str] = field(default_factory=list)


def unknown_agent(name: str) -> NotFound:
    """The 404 for an agent that does not exist or that the caller may not see."""
    return NotFound(f"unknown agent {name!r}", details={"agent": name})


def is_mine(agent: Agent, principal: Principal) -> bool:
    """Whether `agent` belongs to the caller's team (the built-ins belong to no team)."""
    return not agent.builtin and agent.team_id == principal.team_id


def visible_rows(
    agent: Agent, rows: list[AgentVersion], principal: Principal
) -> list[AgentVersion]:
    """The versions `principal` may see: all of its team's agents, the built-ins' but drafts.

    Another team's agent shows nothing.
    """
    if is_mine(agent, principal):
        return rows
    if not agent.builtin:
        return []
    return [row for row in rows if row.status != VersionStatus.DRAFT]


async def find_agent(
    session: AsyncSession, principal: Principal, name: str
) -> tuple[Agent, list[AgentVersion]]:
    """The agent and the versions the caller may see; NotFound when it may see none."""
    agent = await session.get(Agent, name, populate_existing=True)
    if agent is None:
        raise unknown_agent(name)
    rows = visible_rows(agent, await versions_of(session, name), principal)
    if not rows and not is_mine(agent, principal):
        raise unknown_agent(name)  # another team's agent (or one with only drafts): not revealed
    return agent, rows


def spec_of(row: AgentVersion) -> AgentSpec:
    """The parsed spec of a version row (cached unless it is a draft, which may change)."""
    key = (row.agent, row.version)
    cached = _specs.get(key)
    if cached is not None:
        _specs.move_to_end(key)
        return cached
    spec = AgentSpec.model_validate(row.spec)
    if row.status != VersionStatus.DRAFT:
        _specs[key] = spec
        if len(_specs) > SPEC_CACHE_SIZE:
            _specs.popitem(last=False)
    return spec


async def load_spec(session: AsyncSession, name: str, version: str) -> AgentSpec:
    """The spec of a version a task is already pinned to (any status); NotFound if it is gone."""
    cached = _specs.get((name, version))
    if cached is not None:
        return cached
    row = await session.scalar(
        select(AgentVersion).where(AgentVersion.agent == name, AgentVersion.version == version)
    )
    if row is None:
        raise NotFound(
            f"agent {name!r} has no version {version}", details={"agent": name, "version": version}
        )
    return spec_of(row)


def _available(rows: list[AgentVersion], principal: Principal, agent: Agent) -> list[str]:
    mine = is_mine(agent, principal)
    return [
        row.version
        for row in rows
        if VersionStatus(row.status).startable or (mine and row.status == VersionStatus.DRAFT)
    ]


def _pick(
    agent: Agent, rows: list[AgentVersion], principal: Principal, wanted: str
) -> AgentVersion:
    name = agent.name
    available = _available(rows, principal, agent)
    if not wanted:
        row = default_row(agent, rows)
        if row is None:
            raise NotFound(
                f"agent {name!r} has no published version; name a version (available: "
                f"{', '.join(available) or 'none'})",
                details={"agent": name, "available": available},
            )
        return row
    wanted_range = parse_range(wanted, field="body.agent_version")
    exact = wanted_range.exact
    if exact is None:
        matching = [row for row in rows if wanted_range.matches(precedence(row))]
        row = newest(matching, VersionStatus.PUBLISHED) or newest(
            matching, VersionStatus.DEPRECATED
        )
        if row is None:
            raise NotFound(
                f"no version of agent {name!r} matches {wanted!r} (available: "
                f"{', '.join(available) or 'none'})",
                details={"agent": name, "range": wanted, "available": available},
            )
        return row
    same = [row for row in rows if row.version == wanted] or [
        row for row in rows if precedence(row) == exact
    ]
    if not same:
        raise NotFound(
            f"agent {name!r} has no version {wanted} (available: {', '.join(available) or 'none'})",
            details={"agent": name, "version": wanted, "available": available},
        )
    row = same[0]
    if row.status == VersionStatus.YANKED:
        raise Conflict(
            f"version {row.version} of agent {name!r} was yanked: {row.status_reason}",
            details={"agent": name, "version": row.version, "reason": row.status_reason},
        )
    return row


def _warnings(name: str, row: AgentVersion) -> list[str]:
    if row.status == VersionStatus.DEPRECATED:
        text = f"agent {name!r} version {row.version} is deprecated: {row.status_reason}"
        if row.successor:
            text += f"; use version {row.successor} instead"
        return [text]
    if row.status == VersionStatus.DRAFT:
        return [f"agent {name!r} version {row.version} is a draft and may still change"]
    return []


async def resolve_agent(
    session: AsyncSession, principal: Principal, name: str, version_or_range: str | None
) -> ResolvedAgent:
    """The version of agent `name` a new task of `principal` runs.

    Args:
        session: A database session.
        principal: The caller (drafts are theirs alone).
        name: The agent.
        version_or_range: An exact version, a range (`^1.2`, `~1.2`, `1.x`, `>=1.2.0 <2.0.0`,
            `*`, `latest`) or None for the agent's default version.

    Returns:
        The pinned version, its status, spec and warnings (a deprecated version says why).

    Raises:
        NotFound: No such agent, or no version matches (the message lists the available ones).
        Conflict: The named version was yanked (the message gives the reason).
        InvalidInput: `version_or_range` is not a version or range (`body.agent_version`).
    """
    agent, rows = await find_agent(session, principal, name)
    row = _pick(agent, rows, principal, (version_or_range or "").strip())
    return ResolvedAgent(spec_of(row), row.version, row.status, _warnings(name, row))
