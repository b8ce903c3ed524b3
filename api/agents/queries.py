"""Reading the agent registry: views, one agent, its versions, search and trigger lookup."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass

from sqlalchemy import Select, and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.agents.schemas import (
    AgentOut,
    AgentPage,
    AgentSummary,
    AgentVersionOut,
    TriggeredAgent,
    TriggeredAgents,
    TriggerOut,
    VersionSummary,
)
from cape.auth import Principal
from cape.db.agent_models import Agent, AgentVersion
from cape.errors import InvalidInput, NotFound
from cape.registry.resolve import find_agent, spec_of, visible_rows
from cape.registry.spec import AgentSpec, dump_yaml
from cape.registry.store import VersionStatus, default_row, display_row, newest, ordered
from cape.settings import Settings

_CURSOR_NAME = re.compile(r"[a-z0-9-]{1,128}")
SCAN_CHUNK = 200  # agents read per query while filtering a listing


def summary(agent: Agent, rows: list[AgentVersion]) -> AgentSummary:
    """The listing view of an agent, from the versions the caller may see."""
    default = default_row(agent, rows)
    latest = newest(rows, VersionStatus.PUBLISHED)
    return AgentSummary(
        name=agent.name, owner=agent.owner, builtin=agent.builtin, description=agent.description,
        category=agent.category, tags=list(agent.tags or []),
        default_version=default.version if default else None,
        latest=latest.version if latest else None,
        created_at=agent.created_at, updated_at=agent.updated_at,
    )  # fmt: skip


def version_summary(row: AgentVersion) -> VersionSummary:
    """A version without its spec."""
    return VersionSummary(
        version=row.version, status=row.status, status_reason=row.status_reason,
        successor=row.successor, created_at=row.created_at, published_at=row.published_at,
    )  # fmt: skip


def agent_out(agent: Agent, rows: list[AgentVersion], settings: Settings) -> AgentOut:
    """The full view of an agent with its versions (oldest first)."""
    base = f"{settings.base_url}/v1/agents/{agent.name}"
    default = default_row(agent, rows)
    return AgentOut(
        **summary(agent, rows).model_dump(),
        default_pinned=default is not None and agent.default_version == default.version,
        versions=[version_summary(row) for row in ordered(rows)],
        links={"self": base, "versions": f"{base}/versions"},
    )


def version_out(row: AgentVersion, settings: Settings) -> AgentVersionOut:
    """The full view of a version with its spec."""
    base = f"{settings.base_url}/v1/agents/{row.agent}/versions/{row.version}"
    return AgentVersionOut(
        **version_summary(row).model_dump(),
        agent=row.agent,
        updated_at=row.updated_at,
        spec=spec_of(row).to_data(),
        links={"self": base, "export": f"{base}/export", "schemas": f"{base}/schemas"},
    )


async def find_version(
    session: AsyncSession, principal: Principal, name: str, version: str
) -> tuple[Agent, list[AgentVersion], AgentVersion]:
    """The agent, its visible versions and the one called `version`; NotFound if not visible."""
    agent, rows = await find_agent(session, principal, name)
    for row in rows:
        if row.version == version:
            return agent, rows, row
    raise NotFound(
        f"agent {name!r} has no version {version}",
        details={"agent": name, "version": version, "available": [r.version for r in rows]},
    )


async def find_spec(
    session: AsyncSession, principal: Principal, name: str, version: str
) -> tuple[AgentVersion, AgentSpec]:
    """The visible version `version` of agent `name` and its parsed spec."""
    _, _, row = await find_version(session, principal, name, version)
    return row, spec_of(row)


async def export_yaml(
    session: AsyncSession, principal: Principal, name: str, version: str
) -> tuple[str, str]:
    """The version's spec as YAML, and the file name to download it as."""
    row, spec = await find_spec(session, principal, name, version)
    return dump_yaml(spec), f"{name}-{row.version}.yaml"


async def agent_view(
    session: AsyncSession, principal: Principal, name: str, settings: Settings
) -> AgentOut:
    """The API view of the agent `name` (NotFound unless the caller can see it)."""
    agent, rows = await find_agent(session, principal, name)
    return agent_out(agent, rows, settings)


async def version_list(
    session: AsyncSession, principal: Principal, name: str
) -> list[VersionSummary]:
    """The summaries of the agent's versions the caller can see."""
    _, rows = await find_agent(session, principal, name)
    return [version_summary(row) for row in rows]


@dataclass(frozen=True)
class AgentFilter:
    """What a listing keeps: text, tag, category, name part and trigger event."""

    q: str | None = None
    tag: str | None = None
    category: str | None = None
    name: str | None = None
    trigger: str | None = None

    def keeps(self, agent: Agent, rows: list[AgentVersion]) -> bool:
        """Whether the agent passes the filters that need its spec."""
        if self.tag is not None and self.tag not in (agent.tags or []):
            return False
        if self.q:
            shown = display_row(agent, rows)
            goals = spec_of(shown).goals if shown else []
            text = " ".join([agent.name, agent.description, *(agent.tags or []), *goals])
            if self.q.lower() not in text.lower():
                return False
        if self.trigger is not None:
            return bool(_triggers(agent, rows, self.trigger))
        return True


def _triggers(agent: Agent, rows: list[AgentVersion], event: str) -> list[TriggerOut]:
    default = default_row(agent, rows)
    if default is None:
        return []
    spec = spec_of(default)
    return [
        TriggerOut(event=t.event, filter=t.filter, capability=t.capability, complexity=t.complexity)
        for t in spec.triggers
        if t.event == event
    ]


def _visible_query(principal: Principal, filt: AgentFilter) -> Select[Agent]:
    published = exists().where(
        AgentVersion.agent == Agent.name, AgentVersion.status != VersionStatus.DRAFT
    )
    # The team's own agents, and the built-ins that have a published version.
    query = select(Agent).where(
        or_(Agent.team_id == principal.team_id, and_(Agent.builtin.is_(True), published))
    )
    if filt.category is not None:
        query = query.where(Agent.category == filt.category)
    if filt.name:
        query = query.where(Agent.name.contains(filt.name.lower(), autoescape=True))
    return query


async def _scan(
    session: AsyncSession, principal: Principal, filt: AgentFilter, after: str | None
) -> AsyncGenerator[tuple[Agent, list[AgentVersion]]]:
    """Visible agents by name after `after` that pass `filt`, with their visible versions."""
    query = _visible_query(principal, filt).order_by(Agent.name).limit(SCAN_CHUNK)
    while True:
        page = query if after is None else query.where(Agent.name > after)
        agents = list(await session.scalars(page))
        if not agents:
            return
        names = [agent.name for agent in agents]
        found = await session.scalars(select(AgentVersion).where(AgentVersion.agent.in_(names)))
        by_agent: dict[str, list[AgentVersion]] = {name: [] for name in names}
        for row in found:
            by_agent[row.agent].append(row)
        for agent in agents:
            rows = visible_rows(agent, ordered(by_agent[agent.name]), principal)
            if filt.keeps(agent, rows):
                yield agent, rows
        after = agents[-1].name


def _cursor(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def _after(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        name = base64.b64decode(cursor.encode(), altchars=b"-_", validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        name = ""
    if not _CURSOR_NAME.fullmatch(name):
        raise InvalidInput(
            "cursor is not valid", details=[{"field": "query.cursor", "message": "malformed"}]
        )
    return name


async def search_agents(
    session: AsyncSession, principal: Principal, filt: AgentFilter, limit: int, cursor: str | None
) -> AgentPage:
    """A page of the agents the caller may see that pass `filt`, by name."""
    items: list[AgentSummary] = []
    async with aclosing(_scan(session, principal, filt, _after(cursor))) as found:
        async for agent, rows in found:
            if len(items) == limit:
                return AgentPage(items=items, next_cursor=_cursor(items[-1].name))
            items.append(summary(agent, rows))
    return AgentPage(items=items, next_cursor=None)


async def agents_for_event(
    session: AsyncSession, principal: Principal, event: str
) -> TriggeredAgents:
    """The agents whose default version an event of type `event` starts, with the filters."""
    items = []
    async for agent, rows in _scan(session, principal, AgentFilter(trigger=event), None):
        default = default_row(agent, rows)
        assert default is not None  # the trigger filter kept only agents with a default
        items.append(
            TriggeredAgent(
                name=agent.name, version=default.version, owner=agent.owner,
                description=agent.description, triggers=_triggers(agent, rows, event),
            )
        )  # fmt: skip
    return TriggeredAgents(event=event, items=items)
