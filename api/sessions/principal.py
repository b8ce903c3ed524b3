"""Who a verified JWT or a session's API key is, as a `Principal`.

MERGE POINT (issue 14, teams): these two functions are the only places that turn a token's
claims or a session's key id into a Principal. They map to today's Principal (an owner string
and a key id); the teams branch replaces their bodies with the team/member lookup.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cape.auth import Principal
from cape.auth_settings import AuthSettings
from cape.db.models import ApiKey
from cape.errors import Forbidden
from cape.tokens.claims import VerifiedToken

MAX_NAME = 120  # owners and key ids are stored in 128-character columns ("jwt:" + subject)


async def token_principal(
    read_sessions: async_sessionmaker[AsyncSession],
    settings: AuthSettings,
    token: VerifiedToken,
) -> Principal:
    """The caller a verified JWT names: its team claim is the owner, `jwt:<sub>` the key id.

    Raises:
        Forbidden: the token names no team (403 naming the claims looked for).
    """
    # TODO(teams): look the team up by `token.team` (403 "unknown team <name>" when there is
    # none), the member by `token.subject` in it, and the role from `token.role` or the
    # membership (403 naming the role claim when neither gives one); return the teams
    # Principal (team_id, user_id, role, scopes). `read_sessions` is here for that lookup.
    del read_sessions
    if token.team is None:
        claims = " or ".join(f"`{name}`" for name in settings.jwt_team_claims)
        raise Forbidden(
            f"the token names no team: it needs a {claims} claim",
            details={"reason": "missing_team", "claims": list(settings.jwt_team_claims)},
        )
    for claim, value in (("team", token.team), ("subject", token.subject)):
        if len(value) > MAX_NAME or not value.isprintable():
            raise Forbidden(
                f"the token's {claim} is not a usable name (printable, {MAX_NAME} characters "
                "at most)",
                details={"reason": f"invalid_{claim}"},
            )
    return Principal(owner=token.team, key_id=f"jwt:{token.subject}")


async def key_principal(
    read_sessions: async_sessionmaker[AsyncSession], key_id: str
) -> Principal | None:
    """The principal of API key `key_id` if it is still valid (checked on every request)."""
    # TODO(teams): apply the same validity rules as `cape.auth.authenticate` (expiry, deleted
    # team) and return the teams Principal; ideally a `cape.auth` function by key id.
    async with read_sessions() as session:
        row = await session.scalar(
            select(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        )
    return Principal(owner=row.owner, key_id=row.id) if row else None
