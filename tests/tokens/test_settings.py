"""JWT and session settings that contradict each other stop the process at start."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from cape.settings import Settings
from cape.tokens.verifier import TokenVerifier

JWKS: dict[str, Any] = {"jwt_jwks_url": "https://idp.test/jwks", "jwt_issuer": "https://idp.test/"}


@pytest.mark.parametrize(
    "config,named",
    [
        ({"jwt_enabled": True}, "CAPE_JWT_JWKS_URL nor CAPE_JWT_HS256_SECRET"),
        ({"jwt_hs256_secret": "too-short"}, "CAPE_JWT_HS256_SECRET must be at least 32 bytes"),
        ({"jwt_jwks_url": "https://idp.test/jwks"}, "CAPE_JWT_ISSUER and CAPE_JWT_AUDIENCE"),
        ({**JWKS}, "CAPE_JWT_AUDIENCE"),
        ({**JWKS, "jwt_audience": "a", "jwt_jwks_url": "http://idp.test/jwks"}, "https://"),
        ({**JWKS, "jwt_audience": "a", "jwt_jwks_url": "ftp://127.0.0.1/jwks"}, "https://"),
        ({"jwt_algorithms": ["HS256"]}, "CAPE_JWT_ALGORITHMS"),
        ({"jwt_algorithms": ["none"]}, "CAPE_JWT_ALGORITHMS"),
        ({"jwt_algorithms": []}, "CAPE_JWT_ALGORITHMS"),
        ({"session_secret": "short"}, "CAPE_SESSION_SECRET must be at least 32 bytes"),
        ({"session_secret": "s" * 40, "jwt_hs256_secret": "s" * 40}, "must differ"),
        ({"session_same_site": "none"}, "session_same_site"),
    ],
)
def test_inconsistent_settings_are_refused(config: dict[str, Any], named: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(**config)
    assert named in str(caught.value)


def test_jwt_is_off_by_default_and_on_with_a_key_source() -> None:
    assert TokenVerifier.from_settings(Settings()) is None
    assert (
        TokenVerifier.from_settings(Settings(jwt_enabled=False, jwt_hs256_secret="k" * 32)) is None
    )
    hs = TokenVerifier.from_settings(Settings(jwt_hs256_secret="k" * 32))
    assert hs is not None and hs.algorithms == ["HS256"] and hs.jwks is None
    both = Settings(**JWKS, jwt_audience="api", jwt_hs256_secret="k" * 32)
    verifier = TokenVerifier.from_settings(both)
    assert verifier is not None and verifier.algorithms == ["ES256", "RS256", "HS256"]
    loopback = Settings(**{**JWKS, "jwt_jwks_url": "http://localhost:9/jwks"}, jwt_audience="a")
    assert loopback.jwt_enabled


def test_settings_reach_a_child_process_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(
        **JWKS,
        jwt_audience="api",
        jwt_algorithms=["ES256"],
        jwt_leeway_seconds=5,
        jwt_team_claim="org",
        session_secret="z" * 40,
        session_allowed_origins=["https://ui.test"],
    )
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    child = Settings()
    for name in (
        "jwt_enabled",
        "jwt_jwks_url",
        "jwt_algorithms",
        "jwt_leeway_seconds",
        "jwt_team_claims",
        "session_secret",
        "session_allowed_origins",
    ):
        assert getattr(child, name) == getattr(settings, name), name
