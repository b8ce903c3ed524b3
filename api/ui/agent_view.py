"""The agents page's view: each visible agent with its versions, spec, triggers and record."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.agents.queries import AgentFilter, search_agents, version_summary
from api.agents.schemas import AgentSummary, TriggerOut, VersionSummary
from cape.auth import Principal
from cape.db.models import Task
from cape.domain import TaskStatus
from cape.registry.resolve import find_agent, spec_of
from cape.registry.spec import dump_yaml
from cape.registry.store import default_row, ordered

MAX_AGENTS = 200  # the page lists at most this many (by name); the API pages further


@dataclass
class Record:
    """The team's tasks of one agent: how many, how they ended, what they used."""

    tasks: int = 0
    succeeded: int = 0
    failed: int = 0
    tokens: int = 0
    cost: float = 0.0

    @property
    def success_rate(self) -> str:
        """Succeeded among the ended ones that succeeded or failed, as a percentage."""
        ended = self.succeeded + self.failed
        return f"{self.succeeded / ended * 100:.0f}%" if ended else "-"


@dataclass
class AgentCard:
    """One agent on the page."""

    summary: AgentSummary
    versions: list[VersionSummary]
    yaml: str
    triggers: list[TriggerOut]
    editable: bool  # the team's own agent (not a built-in): it may deprecate or yank
    record: Record = field(default_factory=Record)


async def _records(session: AsyncSession, principal: Principal) -> dict[str, Record]:
    query = (
        select(
            Task.agent,
            Task.status,
            func.count(),
            func.sum(Task.prompt_tokens + Task.completion_tokens),
            func.sum(Task.cost_usd),
        )
        .where(Task.team_id == principal.team_id)
        .group_by(Task.agent, Task.status)
    )
    records: dict[str, Record] = {}
    for agent, status, count, tokens, cost in await session.execute(query):
        record = records.setdefault(agent, Record())
        record.tasks += count
        record.tokens += int(tokens or 0)
        record.cost += float(cost or 0.0)
        if status == TaskStatus.SUCCEEDED:
            record.succeeded += count
        elif status in (TaskStatus.FAILED, TaskStatus.TIMED_OUT):
            record.failed += count
    return records


async def agent_cards(session: AsyncSession, principal: Principal) -> list[AgentCard]:
    """The agents the team may use (its own and the built-ins), by name."""
    page = await search_agents(session, principal, AgentFilter(), MAX_AGENTS, None)
    records = await _records(session, principal)
    cards = []
    for item in page.items:
        agent, rows = await find_agent(session, principal, item.name)
        default = default_row(agent, rows)
        spec = spec_of(default) if default else None
        cards.append(
            AgentCard(
                summary=item,
                versions=[version_summary(row) for row in reversed(ordered(rows))],
                yaml=dump_yaml(spec) if spec else "",
                triggers=[
                    TriggerOut(
                        event=t.event,
                        filter=t.filter,
                        capability=t.capability,
                        complexity=t.complexity,
                    )
                    for t in spec.triggers
                ]
                if spec
                else [],
                editable=agent.team_id == principal.team_id and not agent.builtin,
                record=records.get(item.name, Record()),
            )
        )
    return cards
