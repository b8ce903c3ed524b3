"""Members of the caller's team: admins add, change and remove them.

Only owners make or unmake owners, and the last owner stays.
"""

from __future__ import annotations

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.teams.schemas import MemberAdd, MemberOut, MemberPatch
from api.teams.service import check_own_team
from cape.audit import record
from cape.auth import Principal
from cape.db.models import TeamMember, User
from cape.errors import Conflict, Forbidden, NotFound
from cape.teams import Role, at_least, ensure_user

log = structlog.get_logger(__name__)


def member_out(member: TeamMember, user: User) -> MemberOut:
    """The view of a member."""
    return MemberOut(
        user_id=user.id, user=user.name, email=user.email, role=member.role,
        created_at=member.created_at,
    )  # fmt: skip


async def list_members(
    session: AsyncSession, principal: Principal, team_id: str
) -> list[MemberOut]:
    """The members of the caller's team, by name."""
    check_own_team(principal, team_id)
    rows = await session.execute(
        select(TeamMember, User)
        .join(User, User.id == TeamMember.user_id)
        .where(TeamMember.team_id == team_id)
        .order_by(User.name)
    )
    return [member_out(member, user) for member, user in rows.all()]


async def add_member(
    session: AsyncSession, principal: Principal, team_id: str, body: MemberAdd
) -> MemberOut:
    """Add a user (created when the name is new) with a role; 409 if already a member."""
    check_own_team(principal, team_id)
    _may_grant(principal, body.role)
    user = await ensure_user(session, body.user, body.email)
    if await session.get(TeamMember, (team_id, user.id)) is not None:
        raise Conflict(
            f"{body.user!r} is already a member; PATCH the member to change the role",
            details={"user_id": user.id},
        )
    member = TeamMember(team_id=team_id, user_id=user.id, role=body.role)
    session.add(member)
    record(session, principal, "member.add", "user", user.id, role=body.role.value)
    await session.commit()
    log.info("member added", team_id=team_id, user=user.name, role=body.role.value)
    return member_out(member, user)


async def change_member(
    session: AsyncSession, principal: Principal, team_id: str, user_id: str, body: MemberPatch
) -> MemberOut:
    """Give a member another role (the change applies from the member's next request)."""
    member, user = await _member(session, principal, team_id, user_id)
    _may_grant(principal, Role(member.role))
    _may_grant(principal, body.role)
    if member.role == Role.OWNER and body.role != Role.OWNER:
        await _not_last_owner(session, team_id, user)
    member.role = body.role
    record(session, principal, "member.role", "user", user.id, role=body.role.value)
    await session.commit()
    return member_out(member, user)


async def remove_member(
    session: AsyncSession, principal: Principal, team_id: str, user_id: str
) -> None:
    """Remove a member: their keys of this team are refused from the next request on."""
    member, user = await _member(session, principal, team_id, user_id)
    _may_grant(principal, Role(member.role))
    if member.role == Role.OWNER:
        await _not_last_owner(session, team_id, user)
    await session.delete(member)
    record(session, principal, "member.remove", "user", user.id)
    await session.commit()
    log.info("member removed", team_id=team_id, user=user.name)


async def _member(
    session: AsyncSession, principal: Principal, team_id: str, user_id: str
) -> tuple[TeamMember, User]:
    check_own_team(principal, team_id)
    member = await session.get(TeamMember, (team_id, user_id))
    user = await session.get(User, user_id)
    if member is None or user is None:
        raise NotFound(f"no member {user_id!r} in this team", details={"user_id": user_id})
    return member, user


def _may_grant(principal: Principal, role: Role) -> None:
    # Admins manage members up to admin; only an owner makes, changes or removes an owner.
    if role == Role.OWNER and not at_least(principal.role, Role.OWNER):
        raise Forbidden(
            "missing role 'owner': only owners make, change or remove owners",
            details={"missing_role": "owner", "role": principal.role},
        )


async def _not_last_owner(session: AsyncSession, team_id: str, user: User) -> None:
    owners = await session.scalar(
        select(func.count())
        .select_from(TeamMember)
        .where(TeamMember.team_id == team_id, TeamMember.role == Role.OWNER)
    )
    if (owners or 0) <= 1:
        raise Conflict(
            f"{user.name!r} is the team's last owner: make another member owner first",
            details={"user_id": user.id},
        )
