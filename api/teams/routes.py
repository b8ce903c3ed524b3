"""Teams: create (the caller becomes owner), list mine, get, set limits and delete (owners)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.deps import OwnerDep, PrincipalDep, SessionDep, WriteSessionDep
from api.teams.limits import set_limits
from api.teams.schemas import TeamCreate, TeamCreated, TeamLimits, TeamOut
from api.teams.service import create_team, delete_team, my_team, my_teams

router = APIRouter(prefix="/teams", tags=["teams"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TeamCreated)
async def create(
    body: TeamCreate, response: Response, session: WriteSessionDep, principal: PrincipalDep
) -> TeamCreated:
    """A new team owned by the caller's user, with a first key in it (its secret shown once).

    409 when the slug is taken (slugs of deleted teams stay taken).
    """
    created = await create_team(session, principal, body)
    response.headers["Location"] = f"/v1/teams/{created.team.id}"
    return created


@router.get("", response_model=list[TeamOut])
async def list_teams(session: SessionDep, principal: PrincipalDep) -> list[TeamOut]:
    """The teams the caller's user is a member of, with the role in each."""
    return await my_teams(session, principal)


@router.get("/{team_id}", response_model=TeamOut)
async def get_team(team_id: str, session: SessionDep, principal: PrincipalDep) -> TeamOut:
    """A team the caller's user is a member of (404 for any other)."""
    return await my_team(session, principal, team_id)


@router.patch("/{team_id}", response_model=TeamOut)
async def update_limits(
    team_id: str, body: TeamLimits, session: WriteSessionDep, principal: OwnerDep
) -> TeamOut:
    """Set the calling key's team's own limits (owners).

    Each is a number, 0 for none, or null for the settings' default; fields left out keep
    their value. Running tasks are never stopped by a lower limit.
    """
    return await set_limits(session, principal, team_id, body)


@router.delete("/{team_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete(team_id: str, session: WriteSessionDep, principal: OwnerDep) -> None:
    """Delete the calling key's team (owners): its keys get 401 from the next request on."""
    await delete_team(session, principal, team_id)
