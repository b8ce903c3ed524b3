"""Teams, users and roles: what each role may do, and finding or making a team and its owner.

A key's effective rights are its scopes intersected with what its user's role in the key's team
allows (`effective_scopes`); the API checks them in one dependency (`api/deps.py`).
"""

from __future__ import annotations

import re
import secrets
from enum import StrEnum
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cape.db.models import Team, TeamMember, User

# The team that migration 0004 moved every earlier row, key and schedule into.
DEFAULT_TEAM_ID: Final = "team_default"
SLUG_PATTERN: Final = r"[a-z0-9][a-z0-9._-]{0,57}"


class Role(StrEnum):
    """A member's role in a team, weakest first."""

    VIEWER = "viewer"
    MEMBER = "member"
    ADMIN = "admin"
    OWNER = "owner"


class Scope(StrEnum):
    """What a key may be allowed to do."""

    TASKS_READ = "tasks:read"  # read tasks, steps, events, artifacts, usage, agents, schedules
    TASKS_WRITE = "tasks:write"  # start and operate tasks, answer approvals, upload artifacts
    AGENTS_WRITE = "agents:write"  # create and publish agents
    ADMIN = "admin"  # keys, members, schedules, reconcile


ALL_SCOPES: Final = tuple(Scope)
ROLE_SCOPES: Final[dict[Role, frozenset[Scope]]] = {
    Role.VIEWER: frozenset({Scope.TASKS_READ}),
    Role.MEMBER: frozenset({Scope.TASKS_READ, Scope.TASKS_WRITE}),
    Role.ADMIN: frozenset(Scope),
    Role.OWNER: frozenset(Scope),
}
RANK: Final = {role: at for at, role in enumerate(Role)}


def effective_scopes(scopes: list[str], role: str) -> frozenset[Scope]:
    """What a key with `scopes` held by a user of `role` may do."""
    allowed = ROLE_SCOPES.get(Role(role), frozenset()) if role in set(Role) else frozenset()
    return frozenset(s for s in allowed if s in scopes)


def at_least(role: str, wanted: Role) -> bool:
    """Whether `role` is `wanted` or stronger."""
    return role in set(Role) and RANK[Role(role)] >= RANK[wanted]


def new_id(kind: str) -> str:
    """A fresh id such as `team_…` or `user_…`."""
    return f"{kind}_{secrets.token_hex(12)}"


def slug_of(text: str) -> str:
    """A slug made from a name (lower case, unsafe characters as `-`)."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")[:58]
    return slug or "team"


def team_id_of(slug: str) -> str:
    """The id of the team `slug`: `team_<slug>` (slugs never change and are never reused)."""
    return f"team_{slug}"


def personal_team_id(owner: str) -> str:
    """The id of the team `create_api_key` makes for `owner` when it names none."""
    return team_id_of(slug_of(owner))


async def ensure_user(session: AsyncSession, name: str, email: str | None = None) -> User:
    """The user called `name`, created when missing (not committed)."""
    user = await session.scalar(select(User).where(User.name == name))
    if user is None:
        user = User(id=new_id("user"), name=name, email=email)
        session.add(user)
        await session.flush()
    return user


async def ensure_team(session: AsyncSession, slug: str, name: str | None = None) -> Team:
    """The live team `slug`, created when missing (not committed)."""
    team = await session.scalar(select(Team).where(Team.slug == slug))
    if team is None:
        team = Team(id=team_id_of(slug), slug=slug, name=name or slug)
        session.add(team)
        await session.flush()
    return team


async def ensure_member(
    session: AsyncSession, team_id: str, user_id: str, role: Role
) -> TeamMember:
    """The user's membership of the team, added with `role` when missing (not committed)."""
    member = await session.get(TeamMember, (team_id, user_id))
    if member is None:
        member = TeamMember(team_id=team_id, user_id=user_id, role=role)
        session.add(member)
        await session.flush()
    return member
