"""Triggers that name a capability: the assigner chooses the agent their task runs on.

`plan_route` is `cape.events.plan.plan_agent` with the one read it needs first: when the
trigger that fires names a `capability`, `cape.assign.choose.choose_agent` picks among the
team's published agents (the trigger's own agent only owns the trigger), and the route is
planned against the chosen agent's spec. The routing activity passes its own session, so the
choice reads what the routing transaction sees; the trigger dry-run calls it the same way.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cape.assign.choose import choose_agent
from cape.errors import InvalidInput
from cape.events.plan import RoutePlan, fired_trigger, plan_agent
from cape.registry.resolve import load_spec
from cape.registry.spec import AgentSpec


async def plan_route(
    session: AsyncSession, team_id: str, spec: AgentSpec, event: dict[str, Any]
) -> RoutePlan | None:
    """The route of `event` to `spec`'s triggers, with the agent chosen for a capability.

    Args:
        session: A session of the app database (only read).
        team_id: The team whose agents may be chosen.
        spec: The version whose triggers are tried (the trigger's owner).
        event: The event as triggers see it.

    Returns:
        None when no trigger of `spec` names the event's type. A trigger naming a capability
        that no published agent of the team declares (at its complexity) gives a `failed`
        route whose reason names the capability, never an error.
    """
    fired = fired_trigger(spec, event)
    if fired is None or fired.capability is None:
        return plan_agent(spec, event)
    try:
        chosen = await choose_agent(session, team_id, fired.capability, fired.complexity)
    except InvalidInput as exc:
        plan = plan_agent(spec, event)  # failed: no target
        assert plan is not None
        return replace(plan, reason=f"no candidate: {exc.message}")
    assert chosen.version is not None  # an assignment always names the version it offers
    target = await load_spec(session, chosen.agent, chosen.version)
    return plan_agent(spec, event, target, chosen)
