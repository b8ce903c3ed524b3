"""The hook `api/deps.py` calls for credentials that are not an API key in a header.

`bearer_principal`: a bearer credential without the `cape_` prefix is a JWT when JWT is on.
`cookie_principal`: no credential at all, but a session cookie (with its CSRF checks).
Both record how the caller authenticated in `request.state.credential`.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection

from api.sessions.csrf import check_csrf
from api.sessions.principal import key_principal, member_principal, token_principal
from api.sessions.state import SESSION_COOKIE, Credential, get_authenticators
from cape.auth import KEY_PREFIX, Principal
from cape.errors import Unauthorized


async def bearer_principal(
    connection: HTTPConnection, read_sessions: async_sessionmaker[AsyncSession], credential: str
) -> Principal | None:
    """The principal of a bearer JWT; None when JWT is off or `credential` is an API key.

    Raises:
        TokenError: the JWT does not verify (401, `details.reason` says why).
        Forbidden: it verifies but names no team (403).
    """
    authenticators = get_authenticators(connection)
    if authenticators.tokens is None or credential.startswith(KEY_PREFIX):
        return None
    token = await authenticators.tokens.verify(credential)
    principal = await token_principal(read_sessions, authenticators.settings, token)
    connection.state.credential = Credential("jwt", token.expires_at.isoformat())
    return principal


async def cookie_principal(
    connection: HTTPConnection, read_sessions: async_sessionmaker[AsyncSession]
) -> Principal | None:
    """The principal of the session cookie, None without one; checks CSRF and the key.

    Raises:
        Unauthorized: the cookie is expired or forged, or its API key was revoked.
        Forbidden: a CSRF check failed (Origin, or a state change without the token).
    """
    cookie = connection.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    authenticators = get_authenticators(connection)
    session = authenticators.sessions.read(cookie)
    check_csrf(
        connection, authenticators.settings, authenticators.sessions.csrf_token(session.session_id)
    )
    if not session.key_id:  # an OIDC login's session: the member must still be one
        principal = await member_principal(
            read_sessions, session.team_id, session.user_id, session.role
        )
        if principal is None:
            raise Unauthorized(
                "this session's user is no longer a member of its team: log in again",
                details={"reason": "member_removed"},
            )
    elif (principal := await key_principal(read_sessions, session.key_id)) is None:
        raise Unauthorized(
            "the API key this session was made with is revoked or gone: log in again",
            details={"reason": "key_revoked"},
        )
    connection.state.credential = Credential("session", session.expires_at.isoformat())
    return principal
