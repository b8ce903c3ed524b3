"""Teams: created by any user (who becomes the owner), listed for their members.

An owner deletes a team; its keys are refused from the next request on.
"""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.teams.schemas import OwnerKey, TeamCreate, TeamCreated, TeamOut
from cape.audit import record
from cape.auth import Principal, add_key
from cape.db.models import Team, TeamMember, User
from cape.errors import Conflict, NotFound
from cape.teams import ALL_SCOPES, Role, team_id_of

log = structlog.get_logger(__name__)


def team_not_found(team_id: str) -> NotFound:
    """The 404 of a team that does not exist or that the caller is not a member of."""
    return NotFound(f"team {team_id!r} not found", details={"team_id": team_id})


def team_out(team: Team, role: str) -> TeamOut:
    """The view of a team with the caller's role in it."""
    return TeamOut(
        id=team.id, slug=team.slug, name=team.name, created_at=team.created_at, role=role,
        rate_limit_rpm=team.rate_limit_rpm, max_running_tasks=team.max_running_tasks,
        daily_token_quota=team.daily_token_quota,
    )  # fmt: skip


async def create_team(session: AsyncSession, principal: Principal, body: TeamCreate) -> TeamCreated:
    """A new team whose owner is the caller's user, and that owner's first key in it."""
    if await session.scalar(select(Team.id).where(Team.slug == body.slug)) is not None:
        raise Conflict(f"team slug {body.slug!r} is taken", details={"slug": body.slug})
    team = Team(id=team_id_of(body.slug), slug=body.slug, name=body.name or body.slug)
    session.add(team)
    user = await session.get(User, principal.user_id)
    if user is None:  # the caller's user was deleted between authentication and now
        raise NotFound("your user no longer exists")
    session.add(TeamMember(team_id=team.id, user_id=user.id, role=Role.OWNER))
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise Conflict(f"team slug {body.slug!r} is taken", details={"slug": body.slug}) from None
    row, secret = await add_key(session, team.id, user, f"{body.slug} owner", ALL_SCOPES)
    record(session, principal, "team.create", "team", team.id, slug=team.slug)
    await session.commit()
    log.info("team created", team_id=team.id, owner=user.name)
    key = OwnerKey(id=row.id, prefix=row.prefix, scopes=list(row.scopes), secret=secret)
    return TeamCreated(team=team_out(team, Role.OWNER), key=key)


async def my_teams(session: AsyncSession, principal: Principal) -> list[TeamOut]:
    """The live teams the caller's user is a member of, by slug."""
    rows = await session.execute(
        select(Team, TeamMember.role)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(TeamMember.user_id == principal.user_id, Team.deleted_at.is_(None))
        .order_by(Team.slug)
    )
    return [team_out(team, role) for team, role in rows.all()]


async def my_team(session: AsyncSession, principal: Principal, team_id: str) -> TeamOut:
    """A live team the caller's user is a member of; 404 otherwise."""
    team = await session.get(Team, team_id)
    member = await session.get(TeamMember, (team_id, principal.user_id))
    if team is None or team.deleted_at is not None or member is None:
        raise team_not_found(team_id)
    return team_out(team, member.role)


def check_own_team(principal: Principal, team_id: str) -> None:
    """404 unless `team_id` is the team of the calling key (keys act in their team only)."""
    if team_id != principal.team_id:
        raise team_not_found(team_id)


async def delete_team(session: AsyncSession, principal: Principal, team_id: str) -> None:
    """Mark the caller's team deleted: every key of it is refused from the next request on.

    Its rows stay (and its slug stays taken); running tasks are not stopped.
    """
    check_own_team(principal, team_id)
    team = await session.get(Team, team_id)
    if team is None or team.deleted_at is not None:
        raise team_not_found(team_id)
    team.deleted_at = datetime.now(UTC)
    record(session, principal, "team.delete", "team", team.id)
    await session.commit()
    log.info("team deleted", team_id=team_id)
