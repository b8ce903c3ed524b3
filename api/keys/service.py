"""Keys of the caller's team: listed without secrets, created within the caller's rights.

A revoked key is refused from the next request on (401).
"""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.keys.schemas import KeyCreate, KeyCreated, KeyOut
from cape.audit import record
from cape.auth import Principal, add_key
from cape.db.models import ApiKey, TeamMember, User
from cape.errors import Forbidden, InvalidInput, NotFound

log = structlog.get_logger(__name__)


def key_out(row: ApiKey) -> KeyOut:
    """The listed view of a key."""
    return KeyOut(
        id=row.id, prefix=row.prefix, name=row.name, team_id=row.team_id, user_id=row.user_id,
        user=row.owner, scopes=list(row.scopes), created_at=_aware(row.created_at),
        expires_at=row.expires_at and _aware(row.expires_at),
        revoked_at=row.revoked_at and _aware(row.revoked_at),
    )  # fmt: skip


async def list_keys(session: AsyncSession, principal: Principal) -> list[KeyOut]:
    """Every key of the caller's team, newest first (revoked ones too, marked)."""
    rows = await session.scalars(
        select(ApiKey)
        .where(ApiKey.team_id == principal.team_id)
        .order_by(ApiKey.created_at.desc(), ApiKey.id)
    )
    return [key_out(row) for row in rows]


async def create_key(session: AsyncSession, principal: Principal, body: KeyCreate) -> KeyCreated:
    """A new key of the caller's team, for the caller or another member.

    Its scopes are at most the caller's own (403 names the ones beyond them); what it may do is
    further bounded by its user's role at each request.
    """
    scopes = set(body.scopes) if body.scopes is not None else set(principal.scopes)
    beyond = sorted(scopes - principal.scopes)
    if beyond:
        raise Forbidden(
            f"cannot grant scopes this key does not have: {', '.join(beyond)}",
            details={"missing_scopes": beyond},
        )
    if body.expires_at is not None and _aware(body.expires_at) <= datetime.now(UTC):
        raise InvalidInput(
            "invalid key: body.expires_at",
            details=[{"field": "body.expires_at", "message": "must be in the future"}],
        )
    user_id = body.user_id or principal.user_id
    member = await session.get(TeamMember, (principal.team_id, user_id))
    user = await session.get(User, user_id) if member is not None else None
    if user is None:
        raise InvalidInput(
            "invalid key: body.user_id",
            details=[{"field": "body.user_id", "message": "not a member of this team"}],
        )
    row, secret = await add_key(
        session, principal.team_id, user, body.name, sorted(scopes), body.expires_at
    )
    record(session, principal, "key.create", "api_key", row.id, user=user.name, scopes=row.scopes)
    await session.commit()
    log.info("api key created", key_id=row.id, team_id=row.team_id, user=user.name)
    return KeyCreated(**key_out(row).model_dump(), secret=secret)


async def revoke_key(session: AsyncSession, principal: Principal, key_id: str) -> KeyOut:
    """Revoke a key of the caller's team (again: no change); 404 for any other key."""
    row = await session.get(ApiKey, key_id)
    if row is None or row.team_id != principal.team_id:
        raise NotFound(f"API key {key_id!r} not found", details={"key_id": key_id})
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        record(session, principal, "key.revoke", "api_key", row.id)
        await session.commit()
        log.info("api key revoked", key_id=row.id, team_id=row.team_id)
    return key_out(row)


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes (stored as UTC): shown the same on both databases.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
