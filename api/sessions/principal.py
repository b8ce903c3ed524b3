"""Who a verified JWT or a session's API key is, as a `Principal`.

The only places that turn a token's claims or a session's key id into a Principal; both apply
the same team and membership rules as an API key (`cape.auth`).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cape.auth import (
    Principal,
    Refused,
    authenticate_key_id,
    authenticate_member,
    authenticate_member_id,
)
from cape.auth_settings import AuthSettings
from cape.errors import Forbidden
from cape.tokens.claims import VerifiedToken

MAX_NAME = 120  # owners and key ids are stored in 128-character columns ("jwt:" + subject)


async def token_principal(
    read_sessions: async_sessionmaker[AsyncSession],
    settings: AuthSettings,
    token: VerifiedToken,
    kind: str = "jwt",
) -> Principal:
    """The member a verified JWT names: its subject in the team its team claim names.

    The subject must be a member of that team (added through `/v1/teams/{id}/members`); the
    token's role claim, when present, can only lower the member's role.

    Raises:
        Forbidden: no team claim, an unusable name, an unknown or deleted team, a subject that
            is not a member, or an unknown role (403 naming what is missing).
    """
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
    async with read_sessions() as session:
        try:
            return await authenticate_member(
                session, token.team, token.subject, token.role, f"{kind}:{token.subject}"
            )
        except Refused as refused:
            raise Forbidden(
                str(refused), details={"reason": refused.reason, "team": token.team}
            ) from None


async def key_principal(
    read_sessions: async_sessionmaker[AsyncSession], key_id: str
) -> Principal | None:
    """The principal of API key `key_id` if it may still be used (checked on every request)."""
    async with read_sessions() as session:
        try:
            return await authenticate_key_id(session, key_id)
        except Refused:
            return None


async def member_principal(
    read_sessions: async_sessionmaker[AsyncSession], team_id: str, user_id: str, role: str | None
) -> Principal | None:
    """The principal of an OIDC session's member if still a member (checked on every request)."""
    async with read_sessions() as session:
        try:
            return await authenticate_member_id(session, team_id, user_id, role, "oidc")
        except Refused:
            return None
