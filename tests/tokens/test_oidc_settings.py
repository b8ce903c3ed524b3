"""OIDC login settings (off unless issuer and client id are set, contradictions refused), PKCE
and discovery."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from cape.settings import Settings
from cape.tokens.oidc import OidcClient, OidcConfig, OidcError, pkce_challenge
from tests.tokens.oidc_provider import CLIENT_ID, OidcProvider

ON: dict[str, Any] = {"oidc_issuer": "https://idp.test", "oidc_client_id": "cape"}


@pytest.mark.parametrize(
    "config,named",
    [
        ({"oidc_issuer": "https://idp.test"}, "CAPE_OIDC_ISSUER and CAPE_OIDC_CLIENT_ID"),
        ({"oidc_client_id": "cape"}, "CAPE_OIDC_ISSUER and CAPE_OIDC_CLIENT_ID"),
        ({"oidc_client_secret": "s"}, "OIDC is off"),
        ({"oidc_redirect_url": "https://cape.test/cb"}, "OIDC is off"),
        ({**ON, "oidc_issuer": "http://idp.test"}, "CAPE_OIDC_ISSUER must be https://"),
        ({**ON, "oidc_redirect_url": "/v1/session/oidc/callback"}, "CAPE_OIDC_REDIRECT_URL"),
        ({**ON, "oidc_scopes": "profile email"}, "CAPE_OIDC_SCOPES must include `openid`"),
    ],
)
def test_inconsistent_oidc_settings_are_refused(config: dict[str, Any], named: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(**config)
    assert named in str(caught.value)


def test_oidc_is_off_by_default_and_derives_its_redirect_url() -> None:
    assert OidcConfig.from_settings(Settings(), "http://x") is None
    settings = Settings(**ON, public_url="https://cape.test/", jwt_subject_claim="email")
    config = OidcConfig.from_settings(settings, settings.base_url)
    assert config is not None
    assert config.redirect_url == "https://cape.test/v1/session/oidc/callback"
    assert config.scopes == "openid profile email" and config.names.subject == "email"
    local = Settings(oidc_issuer="http://127.0.0.1:9000", oidc_client_id="cape")
    assert OidcConfig.from_settings(local, local.base_url) is not None  # loopback http is fine


def test_pkce_challenge_is_rfc_7636_s256() -> None:
    # RFC 7636, appendix B.
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


async def test_discovery_is_cached_and_an_outage_keeps_the_last_document() -> None:
    with OidcProvider() as provider:
        settings = Settings(
            oidc_issuer=provider.url, oidc_client_id=CLIENT_ID, jwt_jwks_cache_seconds=0.001
        )
        config = OidcConfig.from_settings(settings, settings.base_url)
        assert config is not None
        client = OidcClient(config)
        found = await client.provider()
        assert found.token_endpoint == f"{provider.url}/token"
    # The provider is down and the cache has expired: the last document is still used.
    assert await client.provider() == found
    with pytest.raises(OidcError) as caught:
        await OidcClient(config).provider()  # never discovered: a clean 401
    assert caught.value.status_code == 401
    assert caught.value.details["reason"] == "provider_unavailable"
