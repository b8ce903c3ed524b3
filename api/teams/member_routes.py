"""Members of the calling key's team: list (any member), add, change role, remove (admins)."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.deps import AdminDep, ReaderDep, SessionDep, WriteSessionDep
from api.teams.members import add_member, change_member, list_members, remove_member
from api.teams.schemas import MemberAdd, MemberOut, MemberPatch

router = APIRouter(prefix="/teams/{team_id}/members", tags=["teams"])


@router.get("", response_model=list[MemberOut])
async def list_team_members(
    team_id: str, session: SessionDep, principal: ReaderDep
) -> list[MemberOut]:
    """The team's members and their roles."""
    return await list_members(session, principal, team_id)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=MemberOut)
async def add(
    team_id: str, body: MemberAdd, session: WriteSessionDep, principal: AdminDep
) -> MemberOut:
    """Add a user by name with a role (the user is created when new); 409 if a member."""
    return await add_member(session, principal, team_id, body)


@router.patch("/{user_id}", response_model=MemberOut)
async def change(
    team_id: str, user_id: str, body: MemberPatch, session: WriteSessionDep, principal: AdminDep
) -> MemberOut:
    """Change a member's role; it applies from the member's next request (streams included)."""
    return await change_member(session, principal, team_id, user_id, body)


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove(team_id: str, user_id: str, session: WriteSessionDep, principal: AdminDep) -> None:
    """Remove a member (409 for the last owner); their keys of this team stop working."""
    await remove_member(session, principal, team_id, user_id)
