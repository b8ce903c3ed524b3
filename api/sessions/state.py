"""The app's token verifier and session signer, built once from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends
from starlette.requests import HTTPConnection

from api.sessions.signer import SessionSigner, session_secret
from cape.settings import Settings
from cape.tokens.oidc import OidcClient, OidcConfig
from cape.tokens.verifier import TokenVerifier

SESSION_COOKIE = "cape_session"
CSRF_COOKIE = "cape_csrf"
Method = Literal["api_key", "jwt", "session"]


@dataclass(frozen=True)
class Authenticators:
    """Verifier of bearer JWTs (None: JWT is off), signer of session cookies, OIDC client."""

    settings: Settings
    tokens: TokenVerifier | None
    sessions: SessionSigner
    oidc: OidcClient | None = None  # None: OIDC login is off

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticators:
        """Both, as `settings` configure them (reads or makes the session secret)."""
        signer = SessionSigner(session_secret(settings), settings.session_ttl_seconds)
        oidc = OidcConfig.from_settings(settings, settings.base_url)
        oidc_client = OidcClient(oidc) if oidc is not None else None
        return cls(settings, TokenVerifier.from_settings(settings), signer, oidc_client)


@dataclass(frozen=True)
class Credential:
    """How this request authenticated (kept on `request.state.credential`)."""

    method: Method
    expires_at: str | None = None  # ISO 8601, for a session or a JWT


def get_authenticators(connection: HTTPConnection) -> Authenticators:
    """The app's authenticators (set by `api.sessions.install`)."""
    authenticators: Authenticators = connection.app.state.authenticators
    return authenticators


def get_credential(connection: HTTPConnection) -> Credential:
    """How the request's principal authenticated (after a principal dependency ran)."""
    credential: Credential = getattr(connection.state, "credential", Credential("api_key"))
    return credential


AuthenticatorsDep = Annotated[Authenticators, Depends(get_authenticators)]
CredentialDep = Annotated[Credential, Depends(get_credential)]
