"""A verified token as CapeControl sees it: subject, team and role by configured claim names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cape.tokens.errors import MissingClaim


@dataclass(frozen=True)
class ClaimNames:
    """Which claims carry the user, the team (the first present of several) and the role."""

    subject: str = "sub"
    team: tuple[str, ...] = ("team", "cape_team")
    role: str = "role"


@dataclass(frozen=True)
class VerifiedToken:
    """A JWT whose signature, algorithm, issuer, audience and times all checked out.

    `team` and `role` are None when the token does not carry them: whether that is acceptable
    is for the caller (the API answers 403 naming the claim), not for the verifier.
    """

    subject: str
    team: str | None
    role: str | None
    algorithm: str
    key_id: str | None
    issuer: str | None
    expires_at: datetime
    claims: Mapping[str, Any] = field(repr=False)


def _text(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | str):
        return str(value).strip() or None
    return None


def to_verified(
    claims: Mapping[str, Any], names: ClaimNames, algorithm: str, key_id: str | None
) -> VerifiedToken:
    """The typed view of already verified `claims`.

    Raises:
        MissingClaim: the subject claim is absent, empty or not a string or number.
    """
    subject = _text(claims, names.subject)
    if subject is None:
        raise MissingClaim(f"the token has no `{names.subject}` claim naming the user")
    team = next((v for name in names.team if (v := _text(claims, name)) is not None), None)
    return VerifiedToken(
        subject=subject,
        team=team,
        role=_text(claims, names.role),
        algorithm=algorithm,
        key_id=key_id,
        issuer=_text(claims, "iss"),
        expires_at=datetime.fromtimestamp(float(claims["exp"]), UTC),
        claims=dict(claims),
    )
