"""Reading the team's capabilities through the assigner's own ranking (`cape.assign`)."""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy.ext.asyncio import AsyncSession

from api.capabilities.schemas import CapabilityList, CapabilityOut, CapableAgentOut
from cape.assign.catalog import CapabilityView, capabilities
from cape.auth import Principal
from cape.errors import NotFound


async def list_capabilities(session: AsyncSession, principal: Principal) -> CapabilityList:
    """Every capability of the caller's team's published agents and the built-ins."""
    return CapabilityList(items=[_out(v) for v in await capabilities(session, principal.team_id)])


async def get_capability(session: AsyncSession, principal: Principal, name: str) -> CapabilityOut:
    """One capability; NotFound when no published agent of the team declares it."""
    found = await capabilities(session, principal.team_id, only=name)
    if not found:
        raise NotFound(
            f"no published agent of the team declares the capability {name!r}",
            details={"capability": name},
        )
    return _out(found[0])


def _out(view: CapabilityView) -> CapabilityOut:
    agents = [CapableAgentOut(**asdict(agent)) for agent in view.agents]
    return CapabilityOut(name=view.name, available=view.available, agents=agents)
