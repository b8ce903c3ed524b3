"""Verify a bearer JWT: the key source its `alg` allows, then signature, times, issuer, audience.

Each key source has its own explicit algorithms: the JWKS only asymmetric ones
(`CAPE_JWT_ALGORITHMS`), the configured secret only HS256. A token's `alg` picks the source, so an
HS256 token can never be checked against a public key (the HS/RS confusion) and `none` matches
no source. Header fields that point at keys (`jku`, `x5u`, `jwk`) are ignored: keys come only
from the configured JWKS URL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt

from cape.auth_settings import AuthSettings
from cape.tokens.claims import ClaimNames, VerifiedToken, to_verified
from cape.tokens.errors import (
    AlgorithmNotAllowed,
    BadSignature,
    MalformedToken,
    MissingClaim,
    TokenError,
    TokenExpired,
    TokenNotYetValid,
    WrongAudience,
    WrongIssuer,
)
from cape.tokens.jwks import JwksCache, JwksPolicy

MAX_TOKEN_CHARS = 16 * 1024
HS256 = "HS256"
# PyJWT's failures, most specific first, as our reasons.
_FAILURES: tuple[tuple[type[Exception], Callable[[str], TokenError]], ...] = (
    (jwt.ExpiredSignatureError, lambda _: TokenExpired("the token has expired (`exp`)")),
    (jwt.ImmatureSignatureError, lambda m: TokenNotYetValid(f"the token is not valid yet: {m}")),
    (jwt.InvalidAudienceError, lambda m: WrongAudience(f"`aud` does not name this API: {m}")),
    (jwt.InvalidIssuerError, lambda m: WrongIssuer(f"`iss` is not the accepted issuer: {m}")),
    (jwt.MissingRequiredClaimError, lambda m: MissingClaim(f"the token lacks a claim: {m}")),
    (jwt.InvalidSignatureError, lambda _: BadSignature("the signature does not verify")),
    (jwt.InvalidAlgorithmError, lambda m: AlgorithmNotAllowed(f"algorithm refused: {m}")),
    (jwt.InvalidKeyError, lambda _: BadSignature("the signature does not verify with the key")),
    (jwt.DecodeError, lambda m: MalformedToken(f"the token cannot be decoded: {m}")),
    (jwt.InvalidTokenError, lambda m: TokenError(f"the token is invalid: {m}")),
)


@dataclass(frozen=True)
class VerifierConfig:
    """What a valid token must satisfy; empty issuer or audience means "not checked"."""

    issuer: str = ""
    audience: str = ""
    leeway: float = 30.0
    names: ClaimNames = field(default_factory=ClaimNames)
    jwks_algorithms: frozenset[str] = frozenset({"RS256", "ES256"})
    hs256_secret: bytes = b""


class TokenVerifier:
    """Verifies bearer JWTs against the configured key sources."""

    def __init__(self, config: VerifierConfig, jwks: JwksCache | None = None) -> None:
        self.config = config
        self.jwks = jwks

    @classmethod
    def from_settings(
        cls, settings: AuthSettings, clock: Callable[[], float] | None = None
    ) -> TokenVerifier | None:
        """The verifier `settings` describe, or None when JWT is off."""
        if not settings.jwt_enabled:
            return None
        jwks = None
        if settings.jwt_jwks_url:
            policy = JwksPolicy(
                url=settings.jwt_jwks_url,
                ttl=settings.jwt_jwks_cache_seconds,
                min_refresh=settings.jwt_jwks_min_refresh_seconds,
                timeout=settings.jwt_jwks_timeout_seconds,
            )
            jwks = JwksCache(policy, clock) if clock else JwksCache(policy)
        names = ClaimNames(
            settings.jwt_subject_claim, settings.jwt_team_claims, settings.jwt_role_claim
        )
        config = VerifierConfig(
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            leeway=settings.jwt_leeway_seconds,
            names=names,
            jwks_algorithms=frozenset(settings.jwt_algorithms),
            hs256_secret=settings.jwt_hs256_secret.get_secret_value().encode(),
        )
        return cls(config, jwks)

    @property
    def algorithms(self) -> list[str]:
        """Every `alg` some configured key source accepts."""
        jwks = sorted(self.config.jwks_algorithms) if self.jwks else []
        return jwks + ([HS256] if self.config.hs256_secret else [])

    async def verify(self, token: str) -> VerifiedToken:
        """The verified claims of `token`.

        Raises:
            TokenError: a subclass naming why the token does not authenticate anyone.
        """
        header = _header(token)
        alg, kid = header["alg"], header.get("kid")
        key: Any
        if alg == HS256 and self.config.hs256_secret:
            key = self.config.hs256_secret
        elif alg in self.config.jwks_algorithms and self.jwks is not None:
            key = await self.jwks.key(kid, alg)
        else:
            raise AlgorithmNotAllowed(
                f"`alg` {alg!r} is not accepted; allowed: {', '.join(self.algorithms)}",
                details={"alg": alg},
            )
        claims = self._decode(token, key, alg)
        return to_verified(claims, self.config.names, alg, kid)

    def _decode(self, token: str, key: Any, alg: str) -> dict[str, Any]:
        config = self.config
        options: dict[str, Any] = {
            "require": ["exp"],
            "verify_aud": bool(config.audience),
            "verify_iss": bool(config.issuer),
            "verify_sub": False,  # the subject claim is configurable: checked by to_verified
        }
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=config.audience or None,
                issuer=config.issuer or None,
                leeway=config.leeway,
                options=options,  # type: ignore[arg-type]
            )
        except jwt.PyJWTError as exc:
            for kind, error in _FAILURES:
                if isinstance(exc, kind):
                    raise error(str(exc)) from None
            raise TokenError(f"the token is invalid: {exc}") from None
        except (ValueError, TypeError) as exc:  # a payload PyJWT parsed but cannot check
            raise MalformedToken(f"the token cannot be read: {exc}") from None
        return claims


def _header(token: str) -> dict[str, Any]:
    """The unverified JOSE header, checked for shape before anything trusts it."""
    if len(token) > MAX_TOKEN_CHARS:
        raise MalformedToken(f"the token is longer than {MAX_TOKEN_CHARS} characters")
    if token.count(".") != 2:
        raise MalformedToken("a JWT has three dot-separated parts (JWS compact form)")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise MalformedToken(f"the token header cannot be read: {exc}") from None
    alg, kid = header.get("alg"), header.get("kid")
    if not isinstance(alg, str) or not alg:
        raise MalformedToken("the token header has no `alg`")
    if kid is not None and not isinstance(kid, str):
        raise MalformedToken("the token header's `kid` is not a string")
    if "crit" in header:
        raise MalformedToken("critical header extensions (`crit`) are not supported")
    return header
