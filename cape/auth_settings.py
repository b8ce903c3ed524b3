"""Operator settings of JWT bearer tokens and browser sessions (a mixin of `Settings`).

JWT is on when a JWKS URL or an HS256 secret is set; `CAPE_JWT_ENABLED=true` without either is
refused at start, as is any other contradiction (docs/security.md, Tokens and sessions).
List values are read from the environment as JSON (`CAPE_JWT_ALGORITHMS='["RS256"]'`).
"""

from __future__ import annotations

import ipaddress
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings

# Asymmetric algorithms a JWKS key may sign with; HS256 is only ever the configured secret.
JWKS_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)
MIN_SECRET_BYTES = 32  # RFC 7518 3.2: an HS256 key of at least the hash's size (256 bits)


class AuthSettings(BaseSettings):
    """JWT verification (key sources, claims, clock skew) and session cookies."""

    jwt_enabled: bool | None = Field(
        None, description="Default: on when CAPE_JWT_JWKS_URL or CAPE_JWT_HS256_SECRET is set."
    )
    jwt_jwks_url: str = ""
    jwt_issuer: str = ""
    jwt_audience: str = ""
    jwt_algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"])
    jwt_hs256_secret: SecretStr = SecretStr("")
    jwt_leeway_seconds: float = Field(30.0, ge=0, le=300)
    jwt_jwks_cache_seconds: float = Field(300.0, gt=0)
    # However many unknown `kid`s arrive, the JWKS is fetched at most once per this interval.
    jwt_jwks_min_refresh_seconds: float = Field(30.0, ge=0)
    jwt_jwks_timeout_seconds: float = Field(5.0, gt=0)
    jwt_subject_claim: str = Field("sub", min_length=1)
    # Comma-separated: the first claim present names the team.
    jwt_team_claim: str = Field("team,cape_team", min_length=1)
    jwt_role_claim: str = Field("role", min_length=1)

    session_secret: SecretStr = Field(
        SecretStr(""), description="Signs session cookies; default: a secret in the data dir."
    )
    session_ttl_seconds: int = Field(8 * 3600, ge=60, le=30 * 24 * 3600)
    session_same_site: Literal["lax", "strict"] = "lax"
    session_allowed_origins: list[str] = Field(
        default_factory=list, description="Origins besides CAPE_PUBLIC_URL's that may use it."
    )

    # OpenID Connect login to the dashboard (authorization code + PKCE): on with issuer + client.
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: SecretStr = SecretStr("")
    oidc_redirect_url: str = Field(
        "", description="Default: <CAPE_PUBLIC_URL>/v1/session/oidc/callback."
    )
    oidc_scopes: str = "openid profile email"

    @field_validator("jwt_algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        wrong = [alg for alg in value if alg not in JWKS_ALGORITHMS]
        if wrong:
            raise ValueError(
                f"CAPE_JWT_ALGORITHMS: {wrong} not allowed for JWKS keys; choose from "
                f"{sorted(JWKS_ALGORITHMS)} (HS256 is CAPE_JWT_HS256_SECRET's, `none` never)"
            )
        if not value:
            raise ValueError("CAPE_JWT_ALGORITHMS must name at least one algorithm")
        return value

    @model_validator(mode="after")
    def _consistent_auth(self) -> AuthSettings:
        secret = self.jwt_hs256_secret.get_secret_value()
        if self.jwt_enabled is None:
            self.jwt_enabled = bool(self.jwt_jwks_url or secret)
        if self.jwt_enabled and not (self.jwt_jwks_url or secret):
            raise ValueError(
                "CAPE_JWT_ENABLED is true but neither CAPE_JWT_JWKS_URL nor "
                "CAPE_JWT_HS256_SECRET is set: no key could verify a token"
            )
        if secret and len(secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"CAPE_JWT_HS256_SECRET must be at least {MIN_SECRET_BYTES} bytes")
        if self.jwt_jwks_url:
            _check_jwks_url(self.jwt_jwks_url)
            if not (self.jwt_issuer and self.jwt_audience):
                raise ValueError(
                    "CAPE_JWT_JWKS_URL needs CAPE_JWT_ISSUER and CAPE_JWT_AUDIENCE: without them "
                    "a token the provider issued for another application would be accepted"
                )
        session = self.session_secret.get_secret_value()
        if session and len(session.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"CAPE_SESSION_SECRET must be at least {MIN_SECRET_BYTES} bytes")
        if session and session == secret:
            raise ValueError("CAPE_SESSION_SECRET must differ from CAPE_JWT_HS256_SECRET")
        _check_oidc(self)
        return self

    @property
    def jwt_team_claims(self) -> tuple[str, ...]:
        """The claims that may name the team, in the order they are tried."""
        return tuple(name.strip() for name in self.jwt_team_claim.split(",") if name.strip())


def _check_oidc(settings: AuthSettings) -> None:
    """OIDC needs issuer and client id together; its other settings mean nothing without them."""
    if bool(settings.oidc_issuer) != bool(settings.oidc_client_id):
        raise ValueError(
            "CAPE_OIDC_ISSUER and CAPE_OIDC_CLIENT_ID must be set together (OIDC login needs both)"
        )
    if not settings.oidc_issuer:
        if settings.oidc_client_secret.get_secret_value() or settings.oidc_redirect_url:
            raise ValueError(
                "CAPE_OIDC_CLIENT_SECRET or CAPE_OIDC_REDIRECT_URL is set but OIDC is off: "
                "set CAPE_OIDC_ISSUER and CAPE_OIDC_CLIENT_ID"
            )
        return
    _check_jwks_url(settings.oidc_issuer, "CAPE_OIDC_ISSUER")
    redirect = urlsplit(settings.oidc_redirect_url)
    if settings.oidc_redirect_url and (
        redirect.scheme not in ("http", "https") or not redirect.netloc
    ):
        raise ValueError(
            f"CAPE_OIDC_REDIRECT_URL must be an absolute http(s) URL: {settings.oidc_redirect_url}"
        )
    if "openid" not in settings.oidc_scopes.split():
        raise ValueError(f"CAPE_OIDC_SCOPES must include `openid`: {settings.oidc_scopes!r}")


def _check_jwks_url(url: str, name: str = "CAPE_JWT_JWKS_URL") -> None:
    """HTTPS, or plain HTTP to a loopback address (keys fetched in clear could be swapped)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme != "http" or not loopback:
        raise ValueError(f"{name} must be https:// (http only on loopback): {url}")
