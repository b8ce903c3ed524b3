"""API keys: creation and lookup. Only a key's SHA-256 is stored.

Every request looks its key up again (`authenticate`): a revoked or expired key, a deleted team
or a removed member is refused on the next request, with the reason. Nothing is cached.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cape.db.models import ApiKey, Team, TeamMember, User
from cape.teams import (
    ALL_SCOPES,
    RANK,
    Role,
    Scope,
    effective_scopes,
    ensure_member,
    ensure_team,
    ensure_user,
    slug_of,
)

KEY_PREFIX = "cape_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user acting in one team with a role and the scopes left to it.

    `owner` is the user's name, the label tasks and audit entries carry; `team_id` is what
    every query is scoped by.
    """

    owner: str
    key_id: str
    team_id: str = ""
    user_id: str = ""
    role: str = Role.VIEWER
    scopes: frozenset[Scope] = field(default_factory=frozenset)
    rate_limit_rpm: int | None = None  # the team's own limit (None: the setting's default)


class Refused(Exception):
    """Why a credential is not accepted (the 401's message); `reason` is its stable code."""

    def __init__(self, message: str, reason: str = "refused") -> None:
        super().__init__(message)
        self.reason = reason


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_secret() -> str:
    """A fresh key secret."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


async def add_key(
    session: AsyncSession,
    team_id: str,
    user: User,
    name: str,
    scopes: Iterable[str],
    expires_at: datetime | None = None,
    secret: str | None = None,
) -> tuple[ApiKey, str]:
    """Add a key of `user` in team `team_id` to the session (not committed).

    Returns the row and its secret, which is shown once and never stored.
    """
    secret = secret or new_secret()
    row = ApiKey(
        id=str(uuid.uuid4()), prefix=secret[:12], key_hash=hash_key(secret), team_id=team_id,
        user_id=user.id, owner=user.name, name=name, scopes=sorted(set(scopes)),
        expires_at=expires_at,
    )  # fmt: skip
    session.add(row)
    await session.flush()
    return row, secret


async def create_api_key(
    session: AsyncSession,
    owner: str,
    name: str = "default",
    key: str | None = None,
    team: str | None = None,
) -> str:
    """Store a new key of user `owner` in team `team` (slug) and return its secret (shown once).

    The operator's way to the first key: the team (by default the one named after `owner`) and
    the user are created when missing, the user is an owner of the team, and the key has every
    scope. Passing `key` registers a known secret (the dev key `cape dev` keeps across
    restarts); registering it again is a no-op.
    """
    secret = key or new_secret()
    if await session.scalar(select(ApiKey.id).where(ApiKey.key_hash == hash_key(secret))):
        return secret
    found = await ensure_team(session, team or slug_of(owner))
    user = await ensure_user(session, owner)
    await ensure_member(session, found.id, user.id, Role.OWNER)
    await add_key(session, found.id, user, name, ALL_SCOPES, secret=secret)
    await session.commit()
    return secret


async def authenticate(session: AsyncSession, key: str) -> Principal:
    """The principal of a key; `Refused` saying why when it may not be used.

    One query: the key, its team and its user's membership.
    """
    return await _principal_of(session, ApiKey.key_hash == hash_key(key))


async def authenticate_key_id(session: AsyncSession, key_id: str) -> Principal:
    """The principal of the key with id `key_id` (a browser session's), by the same rules."""
    return await _principal_of(session, ApiKey.id == key_id)


async def _principal_of(session: AsyncSession, which: ColumnElement[bool]) -> Principal:
    query = (
        select(ApiKey, Team.deleted_at, Team.id, TeamMember.role, Team.rate_limit_rpm)
        .outerjoin(Team, Team.id == ApiKey.team_id)
        .outerjoin(
            TeamMember,
            and_(TeamMember.team_id == ApiKey.team_id, TeamMember.user_id == ApiKey.user_id),
        )
        .where(which)
    )
    found = (await session.execute(query)).first()
    if found is None:
        raise Refused("unknown API key")
    row, deleted_at, team_id, role, rpm = found
    if row.revoked_at is not None:
        raise Refused("API key revoked")
    if row.expires_at is not None and _aware(row.expires_at) <= datetime.now(UTC):
        raise Refused("API key expired")
    if team_id is None or deleted_at is not None:
        raise Refused("the API key's team was deleted")
    if role is None:
        raise Refused("the API key's user is no longer a member of its team")
    return Principal(
        owner=row.owner, key_id=row.id, team_id=row.team_id, user_id=row.user_id,
        role=role, scopes=effective_scopes(row.scopes, role), rate_limit_rpm=rpm,
    )  # fmt: skip


async def authenticate_member(
    session: AsyncSession, team: str, subject: str, role_claim: str | None, key_id: str
) -> Principal:
    """The principal of a signed-in member (a verified JWT): `Refused` saying why otherwise.

    `team` is the team's slug or id and `subject` the user's name; the user must be a member
    of that live team. A role claim can lower the member's role for this token, never raise it.
    """
    named = (Team.slug == team) | (Team.id == team)
    query = (
        select(Team, User, TeamMember.role)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .join(User, User.id == TeamMember.user_id)
        .where(named, User.name == subject)
    )
    found = (await session.execute(query)).first()
    if found is None:
        known = await session.scalar(select(Team.id).where(named, Team.deleted_at.is_(None)))
        if known is None:
            raise Refused(f"unknown team {team!r}", "unknown_team")
        raise Refused(f"{subject!r} is not a member of team {team!r}", "not_a_member")
    found_team, user, role = found
    if found_team.deleted_at is not None:
        raise Refused(f"unknown team {team!r}", "unknown_team")
    return _member(found_team, user, role, role_claim, key_id)


async def authenticate_member_id(
    session: AsyncSession, team_id: str, user_id: str, role_claim: str | None, kind: str
) -> Principal:
    """The principal of a signed-in member by ids (an OIDC session's, checked on every request).

    Its key id reads `<kind>:<user name>`, like a JWT's `jwt:<subject>`.

    Raises:
        Refused: the team is gone or deleted, or the user is no longer a member of it.
    """
    query = (
        select(Team, User, TeamMember.role)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .join(User, User.id == TeamMember.user_id)
        .where(Team.id == team_id, User.id == user_id, Team.deleted_at.is_(None))
    )
    found = (await session.execute(query)).first()
    if found is None:
        raise Refused("the session's user is no longer a member of its team", "not_a_member")
    found_team, user, role = found
    return _member(found_team, user, role, role_claim, f"{kind}:{user.name}")


def _member(
    found_team: Team, user: User, role: str, role_claim: str | None, key_id: str
) -> Principal:
    # A role claim can lower the member's role, never raise it.
    if role_claim is not None:
        if role_claim not in set(Role):
            raise Refused(f"unknown role {role_claim!r} (roles: {', '.join(Role)})", "unknown_role")
        if RANK[Role(role_claim)] < RANK[Role(role)]:
            role = role_claim
    return Principal(
        owner=user.name, key_id=key_id, team_id=found_team.id, user_id=user.id,
        role=role, scopes=effective_scopes(list(ALL_SCOPES), role),
        rate_limit_rpm=found_team.rate_limit_rpm,
    )  # fmt: skip


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes (stored as UTC).
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
