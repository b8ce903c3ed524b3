"""The team's capabilities: each with its agents ranked as the assigner would rank them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from cape.assign.choose import Candidate, rank
from cape.assign.offers import active_counts, recent_runs, team_offers


@dataclass(frozen=True)
class CapabilityView:
    """One capability: its agents in the assigner's order for a task of any complexity.

    `available` says whether a task for it would start at once (some agent is available).
    """

    name: str
    agents: list[Candidate]
    available: bool


async def capabilities(
    session: AsyncSession, team_id: str, only: str | None = None
) -> list[CapabilityView]:
    """Every capability the team's published agents (and the built-ins) declare, by name.

    With `only`, just that capability (an empty list when no agent declares it).
    """
    offers = [o for o in await team_offers(session, team_id) if o.spec.capabilities]
    names = sorted({c for o in offers for c in o.spec.capabilities})
    if only is not None:
        names = [n for n in names if n == only]
    used = [o for o in offers if set(o.spec.capabilities) & set(names)]
    load = await active_counts(session, team_id, [o.agent for o in used])
    runs = await recent_runs(session, team_id, [o.agent for o in used])
    views = []
    for name in names:
        agents = rank(used, load, runs, name, None).candidates
        views.append(CapabilityView(name, agents, any(a.available for a in agents)))
    return views
