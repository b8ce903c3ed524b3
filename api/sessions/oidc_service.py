"""Logging in through the OIDC provider: the redirect out, then the callback that makes a session.

`state`, `nonce` and the PKCE verifier travel in a short-lived cookie signed with the session
secret (`cape_oidc`, HttpOnly, SameSite=Lax so the provider's redirect back carries it, scoped
to `/v1/session/oidc`). The callback accepts only the state that cookie holds, so a code
obtained in another browser's login cannot be planted in this one (login CSRF).
"""

from __future__ import annotations

import hmac
import secrets

from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request

from api.sessions.principal import token_principal
from api.sessions.service import secure_cookies, set_session_cookies
from api.sessions.state import Authenticators
from cape import audit
from cape.errors import InvalidInput, NotFound
from cape.tokens.oidc import OidcClient, OidcError

STATE_COOKIE = "cape_oidc"
STATE_PATH = "/v1/session/oidc"
STATE_AUDIENCE = "cape-oidc-login"
STATE_TTL_SECONDS = 600  # time to log in at the provider


def _client(authenticators: Authenticators) -> OidcClient:
    if authenticators.oidc is None:
        raise NotFound(
            "OIDC login is not configured (CAPE_OIDC_ISSUER and CAPE_OIDC_CLIENT_ID)",
            details={"reason": "oidc_not_configured"},
        )
    return authenticators.oidc


def _local_path(next_path: str | None) -> str:
    """`next` if it is a path on this site ("/tasks/1"), never another origin ("//evil")."""
    if next_path is None:
        return "/"
    if (
        not next_path.startswith("/")
        or next_path.startswith(("//", "/\\"))
        or any(ch in next_path for ch in "\\\r\n\t")
    ):
        raise InvalidInput(
            "`next` must be a path on this site, starting with a single `/`",
            details=[{"field": "query.next", "message": "not a same-origin relative path"}],
        )
    return next_path


async def start_login(
    request: Request, authenticators: Authenticators, next_path: str | None
) -> RedirectResponse:
    """Redirect to the provider's authorization endpoint; the login cookie keeps the secrets.

    Raises:
        NotFound: OIDC is off (`oidc_not_configured`).
        InvalidInput: `next` is not a path on this site.
        OidcError: the provider's discovery document could not be read (`provider_unavailable`).
    """
    client = _client(authenticators)
    target = _local_path(next_path)
    provider = await client.provider()
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    sealed = authenticators.sessions.seal(
        {"state": state, "nonce": nonce, "verifier": verifier, "next": target},
        STATE_AUDIENCE,
        STATE_TTL_SECONDS,
    )
    response = RedirectResponse(client.authorization_url(provider, state, nonce, verifier), 302)
    response.set_cookie(
        STATE_COOKIE,
        sealed,
        max_age=STATE_TTL_SECONDS,
        path=STATE_PATH,
        secure=secure_cookies(request, authenticators),
        httponly=True,
        samesite="lax",  # Strict would drop it on the provider's redirect back
    )
    return response


async def finish_login(
    request: Request,
    authenticators: Authenticators,
    read_sessions: async_sessionmaker[AsyncSession],
    code: str | None,
    state: str | None,
    error: str | None,
) -> RedirectResponse:
    """Check the state, exchange the code, verify the id_token, set the session cookies.

    Raises:
        NotFound: OIDC is off.
        OidcError: 401 with `details.reason` `provider_error`, `bad_state`, `missing_code`,
            `provider_unavailable`, `token_exchange_failed` or `invalid_id_token`.
        Forbidden: the id_token's subject is not a member of the team it names (403).
    """
    client = _client(authenticators)
    if error is not None:
        raise OidcError(
            "provider_error", f"the identity provider refused the login: {error}",
            provider_error=error[:200],
        )  # fmt: skip
    sealed = request.cookies.get(STATE_COOKIE)
    login = authenticators.sessions.unseal(sealed, STATE_AUDIENCE) if sealed else None
    if login is None:
        raise OidcError(
            "bad_state", "no login in progress here (its cookie is missing or expired): start "
            "again at /v1/session/oidc/login",
        )  # fmt: skip
    if not state or not hmac.compare_digest(state.encode(), str(login["state"]).encode()):
        raise OidcError("bad_state", "`state` is not the one this browser's login sent")
    if not code:
        raise OidcError("missing_code", "the provider's redirect has no `code`")
    provider = await client.provider()
    id_token = await client.exchange(provider, code, str(login["verifier"]))
    token = await client.verify(provider, id_token, str(login["nonce"]))
    principal = await token_principal(read_sessions, authenticators.settings, token, "oidc")
    if (context := audit.current.get()) is not None:
        context.principal = principal
    issued = authenticators.sessions.issue_member(principal.team_id, principal.user_id, token.role)
    response = RedirectResponse(_local_path(str(login.get("next") or "/")), 302)
    set_session_cookies(request, response, authenticators, issued)
    response.delete_cookie(STATE_COOKIE, path=STATE_PATH, httponly=True, samesite="lax")
    return response
