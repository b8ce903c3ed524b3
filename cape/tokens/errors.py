"""Why a token was refused: one class per reason, all of them 401 `Unauthorized`.

TokenError (cape.errors.Unauthorized)
├── MalformedToken         not three base64url parts of JSON, too long, no usable header
├── AlgorithmNotAllowed    `alg` is `none` or outside the allow-list of its key source
├── UnknownKey             no key of the JWKS has the token's `kid` (after a refresh)
├── KeysUnavailable        the JWKS could not be fetched and no cached key fits
├── BadSignature           the signature does not verify with the key
├── TokenExpired           `exp` is past (beyond the leeway), or missing
├── TokenNotYetValid       `nbf` or `iat` is in the future (beyond the leeway)
├── WrongAudience          `aud` does not hold the configured audience
├── WrongIssuer            `iss` is not the configured issuer
└── MissingClaim           a required claim (`exp`, the subject claim) is absent or empty

Each carries a stable `reason` (also in the error body's `details.reason`) and a message that
names the claim or header at fault, never the token itself.
"""

from __future__ import annotations

from typing import Any

from cape.errors import Unauthorized


class TokenError(Unauthorized):
    """A bearer token that does not authenticate anyone."""

    reason = "invalid_token"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message, details={"reason": self.reason, **(details or {})})


class MalformedToken(TokenError):
    """Not a JWT at all, or one whose header cannot be read."""

    reason = "malformed"


class AlgorithmNotAllowed(TokenError):
    """`alg` not in the allow-list of the key source it would need (`none` never is)."""

    reason = "algorithm_not_allowed"


class UnknownKey(TokenError):
    """The token's `kid` is in no key set we have or could fetch."""

    reason = "unknown_key"


class KeysUnavailable(TokenError):
    """The JWKS is down and no cached key matches: still a 401, the caller may retry later."""

    reason = "keys_unavailable"


class BadSignature(TokenError):
    """The signature does not verify with the selected key."""

    reason = "bad_signature"


class TokenExpired(TokenError):
    """`exp` is in the past beyond the allowed clock skew."""

    reason = "expired"


class TokenNotYetValid(TokenError):
    """`nbf` (or `iat`) is in the future beyond the allowed clock skew."""

    reason = "not_yet_valid"


class WrongAudience(TokenError):
    """`aud` does not name this API."""

    reason = "wrong_audience"


class WrongIssuer(TokenError):
    """`iss` is not the configured issuer."""

    reason = "wrong_issuer"


class MissingClaim(TokenError):
    """A claim the verifier requires is absent or empty."""

    reason = "missing_claim"
