"""An OpenID Connect relying party: discovery, the authorization URL, code exchange, id_token.

The provider's `/.well-known/openid-configuration` is fetched once and kept for the JWKS cache
time; its `issuer` must be the configured one and every endpoint `https://` (or loopback
`http://`). The id_token is verified by the same `TokenVerifier` as bearer JWTs, against the
provider's JWKS, with the client id as audience; its `nonce` must be the one this login sent.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import structlog

from cape.auth_settings import AuthSettings, _check_jwks_url
from cape.errors import Unauthorized
from cape.tokens.claims import ClaimNames, VerifiedToken
from cape.tokens.errors import TokenError
from cape.tokens.jwks import FETCH_ERRORS, JwksCache, JwksPolicy
from cape.tokens.verifier import TokenVerifier, VerifierConfig

log = structlog.get_logger(__name__)
DISCOVERY = "/.well-known/openid-configuration"


class OidcError(Unauthorized):
    """A login through the provider that failed: 401 with `details.reason`."""

    def __init__(self, reason: str, message: str, **details: Any) -> None:
        super().__init__(message, details={"reason": reason, **details})


@dataclass(frozen=True)
class OidcConfig:
    """The relying party: who we are to the provider and how its tokens are checked."""

    issuer: str
    client_id: str
    client_secret: str
    redirect_url: str
    scopes: str
    names: ClaimNames
    algorithms: frozenset[str]
    leeway: float = 30.0
    timeout: float = 5.0
    cache_seconds: float = 300.0
    min_refresh: float = 30.0

    @classmethod
    def from_settings(cls, settings: AuthSettings, base_url: str) -> OidcConfig | None:
        """The configuration `settings` describe, None when OIDC is off."""
        if not (settings.oidc_issuer and settings.oidc_client_id):
            return None
        redirect = settings.oidc_redirect_url or f"{base_url.rstrip('/')}/v1/session/oidc/callback"
        names = ClaimNames(
            settings.jwt_subject_claim, settings.jwt_team_claims, settings.jwt_role_claim
        )
        return cls(
            issuer=settings.oidc_issuer,
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret.get_secret_value(),
            redirect_url=redirect,
            scopes=settings.oidc_scopes,
            names=names,
            algorithms=frozenset(settings.jwt_algorithms),
            leeway=settings.jwt_leeway_seconds,
            timeout=settings.jwt_jwks_timeout_seconds,
            cache_seconds=settings.jwt_jwks_cache_seconds,
            min_refresh=settings.jwt_jwks_min_refresh_seconds,
        )


@dataclass(frozen=True)
class Provider:
    """What discovery told us, and the verifier of the provider's id_tokens."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    verifier: TokenVerifier


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of a PKCE code verifier (RFC 7636 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class OidcClient:
    """Talks to one provider; `provider()` is safe to call from many requests at once."""

    def __init__(self, config: OidcConfig) -> None:
        self.config = config
        self._provider: Provider | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def provider(self) -> Provider:
        """The provider's endpoints (discovery, cached; a failed refetch keeps the last ones).

        Raises:
            OidcError: `provider_unavailable`, the discovery document could not be had.
        """
        async with self._lock:
            age = time.monotonic() - self._fetched_at
            if self._provider is None or age >= self.config.cache_seconds:
                try:
                    self._provider = await self._discover(self._provider)
                except OidcError as exc:
                    if self._provider is None or exc.details["reason"] != "provider_unavailable":
                        raise
                    return self._provider  # keep what we had while the provider is down
                self._fetched_at = time.monotonic()
            return self._provider

    async def _discover(self, previous: Provider | None) -> Provider:
        url = self.config.issuer.rstrip("/") + DISCOVERY
        try:
            async with httpx.AsyncClient(timeout=self.config.timeout) as client:
                response = await client.get(url, headers={"Accept": "application/json"})
            if response.status_code != 200:
                raise ValueError(f"HTTP {response.status_code}")
            document = response.json()
            names = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
            found = {name: document.get(name) for name in names}
            for name, value in found.items():
                if not isinstance(value, str) or not value:
                    raise ValueError(f"no `{name}`")
                _check_jwks_url(value, name)
        except FETCH_ERRORS as exc:
            log.warning("oidc discovery failed", url=url, error=str(exc))
            raise OidcError(
                "provider_unavailable",
                f"the identity provider's discovery document could not be read: {exc}",
            ) from None
        if found["issuer"].rstrip("/") != self.config.issuer.rstrip("/"):
            raise OidcError(
                "provider_error",
                f"the provider says its issuer is {found['issuer']!r}, not the configured one",
            )
        if previous is not None and previous.verifier.jwks is not None:
            jwks = previous.verifier.jwks  # keep cached keys across rediscovery
        else:
            jwks = JwksCache(JwksPolicy(found["jwks_uri"], self.config.cache_seconds,
                                        self.config.min_refresh, self.config.timeout))  # fmt: skip
        checks = VerifierConfig(
            issuer=found["issuer"],
            audience=self.config.client_id,
            leeway=self.config.leeway,
            names=self.config.names,
            jwks_algorithms=self.config.algorithms,
        )
        return Provider(
            found["issuer"],
            found["authorization_endpoint"],
            found["token_endpoint"],
            TokenVerifier(checks, jwks),
        )

    def authorization_url(self, provider: Provider, state: str, nonce: str, verifier: str) -> str:
        """Where the browser goes to log in (authorization code flow with PKCE S256)."""
        query = urlencode({
            "response_type": "code", "client_id": self.config.client_id,
            "redirect_uri": self.config.redirect_url, "scope": self.config.scopes,
            "state": state, "nonce": nonce,
            "code_challenge": pkce_challenge(verifier), "code_challenge_method": "S256",
        })  # fmt: skip
        joiner = "&" if "?" in provider.authorization_endpoint else "?"
        return f"{provider.authorization_endpoint}{joiner}{query}"

    async def exchange(self, provider: Provider, code: str, verifier: str) -> str:
        """The id_token the token endpoint gives for `code`.

        Raises:
            OidcError: `token_exchange_failed` (refused, unreachable, or no id_token).
        """
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": self.config.redirect_url,
            "client_id": self.config.client_id,
        }
        # client_secret_basic; a public client (no secret) relies on PKCE alone.
        secret = self.config.client_secret
        auth = httpx.BasicAuth(self.config.client_id, secret) if secret else None
        try:
            async with httpx.AsyncClient(timeout=self.config.timeout, auth=auth) as client:
                response = await client.post(provider.token_endpoint, data=form)
            body = response.json()
        except FETCH_ERRORS as exc:
            raise OidcError(
                "token_exchange_failed", f"the token endpoint could not be reached: {exc}"
            ) from None
        if response.status_code != 200 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else None
            raise OidcError(
                "token_exchange_failed",
                f"the provider refused the code (HTTP {response.status_code}: {error})",
                provider_error=error if isinstance(error, str) else None,
            )
        id_token = body.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise OidcError("token_exchange_failed", "the token response has no id_token")
        return id_token

    async def verify(self, provider: Provider, id_token: str, nonce: str) -> VerifiedToken:
        """The verified id_token: signature (the provider's JWKS), issuer, audience, times, nonce.

        Raises:
            OidcError: `invalid_id_token`, with `details.cause` the check that failed.
        """
        try:
            token = await provider.verifier.verify(id_token)
        except TokenError as exc:
            cause = exc.details.get("reason") if isinstance(exc.details, dict) else None
            raise OidcError(
                "invalid_id_token", f"the id_token is refused: {exc}", cause=cause
            ) from None
        sent = token.claims.get("nonce")
        if not (isinstance(sent, str) and hmac.compare_digest(sent.encode(), nonce.encode())):
            raise OidcError(
                "invalid_id_token",
                "the id_token's `nonce` is not this login's",
                cause="wrong_nonce",
            )
        return token
