"""A team's own limits, set by its owners (docs/api.md, Limits)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from api.teams.schemas import TeamLimits, TeamOut
from api.teams.service import check_own_team, team_not_found, team_out
from cape.audit import record
from cape.auth import Principal
from cape.db.models import Team


async def set_limits(
    session: AsyncSession, principal: Principal, team_id: str, body: TeamLimits
) -> TeamOut:
    """Store the limits `body` names (the others keep theirs); audited with old and new values."""
    check_own_team(principal, team_id)
    team = await session.get(Team, team_id)
    if team is None or team.deleted_at is not None:
        raise team_not_found(team_id)
    changes = body.model_dump(exclude_unset=True)
    before = {name: getattr(team, name) for name in changes}
    for name, value in changes.items():
        setattr(team, name, value)
    record(session, principal, "team.limits", "team", team.id, before=before, after=changes)
    await session.commit()
    return team_out(team, principal.role)
