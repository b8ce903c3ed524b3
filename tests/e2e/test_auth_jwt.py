"""JWT bearer tokens through the API, from a loopback JWKS and an HS256 secret.

Every bad token is a 401 (or 403) JSON body that says why, and writes nothing.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from pydantic import SecretStr

from cape.settings import Settings
from cape.teams import personal_team_id
from tests.e2e.auth_support import task_body, task_count
from tests.harness import new_api_key, running_api
from tests.tokens.jwks_server import (
    AUDIENCE,
    HS_SECRET,
    ISSUER,
    JwksServer,
    SigningKey,
    claims,
    hand_signed,
)

RSA = SigningKey.rsa("api-rsa-1")
EC = SigningKey.ec("api-ec-1")


@dataclass
class JwtApi:
    http: httpx.AsyncClient
    jwks: JwksServer
    team: str  # the team's slug, as tokens name it
    key: str  # an API key of the team's owner


def hs256(**extra: object) -> str:
    return hand_signed({"alg": "HS256", "typ": "JWT"}, claims(**extra), HS_SECRET.encode())


@asynccontextmanager
async def jwt_api(settings: Settings) -> AsyncIterator[JwtApi]:
    """The API with JWT on: the loopback JWKS (RS256, ES256) and an HS256 secret."""
    team = f"team-{uuid.uuid4().hex[:10]}"
    with JwksServer(keys=[RSA, EC]) as jwks:
        configured = settings.model_copy(
            update={
                "jwt_enabled": True,
                "jwt_jwks_url": jwks.url,
                "jwt_issuer": ISSUER,
                "jwt_audience": AUDIENCE,
                "jwt_hs256_secret": SecretStr(HS_SECRET),
                "jwt_jwks_min_refresh_seconds": 0.0,
            }
        )
        key = await new_api_key(configured, owner=team)
        async with (
            running_api(configured) as url,
            httpx.AsyncClient(base_url=url, timeout=30) as http,
        ):
            # The tokens' subjects, members of the team (a token names a member, never makes one).
            for user, role in (("user-1", "member"), ("svc", "admin"), ("viewer-1", "viewer")):
                added = await http.post(
                    f"/v1/teams/{personal_team_id(team)}/members",
                    json={"user": user, "role": role},
                    headers=bearer(key),
                )
                assert added.status_code in (200, 201), added.text
            yield JwtApi(http, jwks, team, key)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_hs256_and_rs256_tokens_list_the_teams_tasks(settings: Settings) -> None:
    async with jwt_api(settings) as api:
        made = await api.http.post("/v1/tasks", json=task_body(), headers=bearer(api.key))
        assert made.status_code == 201, made.text
        for token in (
            hs256(team=api.team),
            RSA.sign(claims(team=api.team)),
            EC.sign(claims(cape_team=api.team, team=None, sub="svc")),
        ):
            listed = await api.http.get("/v1/tasks", headers=bearer(token))
            assert listed.status_code == 200, listed.text
            assert [t["id"] for t in listed.json()["items"]] == [made.json()["id"]]
        who = await api.http.get("/v1/session", headers=bearer(RSA.sign(claims(team=api.team))))
        assert who.json()["method"] == "jwt" and who.json()["key_id"] == "jwt:user-1"
        assert who.json()["owner"] == "user-1" and who.json()["expires_at"]
        created = await api.http.post(
            "/v1/tasks", json=task_body(), headers=bearer(RSA.sign(claims(team=api.team)))
        )
        assert created.status_code == 201 and created.json()["owner"] == "user-1"
        assert await task_count(settings, api.team) == 2
        # API keys still work with JWT on.
        assert (await api.http.get("/v1/tasks", headers=bearer(api.key))).status_code == 200


NOW = int(time.time())
BAD: dict[str, tuple[Callable[[str], str], str]] = {
    "alg none": (
        lambda t: hand_signed({"alg": "none"}, claims(team=t), None),
        "algorithm_not_allowed",
    ),
    "HS256 with the RSA public key": (
        lambda t: hand_signed({"alg": "HS256", "kid": RSA.kid}, claims(team=t), RSA.public_pem()),
        "bad_signature",
    ),
    "RS384 not allowed": (lambda t: RSA.sign(claims(team=t), alg="RS384"), "algorithm_not_allowed"),
    "malformed": (lambda t: "not.a.jwt", "malformed"),
    "garbage": (lambda t: "eyJ" + "x" * 50, "malformed"),
    "expired": (lambda t: RSA.sign(claims(team=t, exp=NOW - 3600)), "expired"),
    "not yet valid": (lambda t: RSA.sign(claims(team=t, nbf=NOW + 3600)), "not_yet_valid"),
    "wrong audience": (lambda t: RSA.sign(claims(team=t, aud="other")), "wrong_audience"),
    "wrong issuer": (lambda t: RSA.sign(claims(team=t, iss="https://evil/")), "wrong_issuer"),
    "no exp": (lambda t: RSA.sign(_no_exp(t)), "missing_claim"),
    "unknown kid": (lambda t: SigningKey.ec("nobody").sign(claims(team=t)), "unknown_key"),
    "wrong key": (lambda t: SigningKey.ec(EC.kid).sign(claims(team=t)), "bad_signature"),
    "HS256 wrong secret": (
        lambda t: hand_signed({"alg": "HS256"}, claims(team=t), b"w" * 40),
        "bad_signature",
    ),
}


def _no_exp(team: str) -> dict[str, object]:
    return {k: v for k, v in claims(team=team).items() if k != "exp"}


async def test_every_bad_token_is_a_401_with_its_reason_and_writes_nothing(
    settings: Settings,
) -> None:
    async with jwt_api(settings) as api:
        for name, (make, why) in BAD.items():
            response = await api.http.post(
                "/v1/tasks", json=task_body(), headers=bearer(make(api.team))
            )
            assert response.status_code == 401, (name, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
            error = response.json()["error"]
            assert error["code"] == "unauthorized" and error["details"]["reason"] == why, (
                name,
                error,
            )
        no_team = await api.http.post(
            "/v1/tasks", json=task_body(), headers=bearer(RSA.sign(claims(team=None)))
        )
        assert no_team.status_code == 403, no_team.text
        assert no_team.json()["error"]["details"]["reason"] == "missing_team"
        assert "`team` or `cape_team`" in no_team.json()["error"]["message"]
        for team, why in (("t" * 121, "invalid_team"), ("a\x00b", "invalid_team")):
            odd = await api.http.post(
                "/v1/tasks", json=task_body(), headers=bearer(RSA.sign(claims(team=team)))
            )
            assert odd.status_code == 403 and odd.json()["error"]["details"]["reason"] == why
        odd_sub = await api.http.get("/v1/tasks", headers=bearer(hs256(team=api.team, sub="a\tb")))
        assert odd_sub.json()["error"]["details"]["reason"] == "invalid_subject", odd_sub.text
        for token, why in (
            (hs256(team="no-such-team"), "unknown_team"),
            (hs256(team=api.team, sub="stranger"), "not_a_member"),
            (hs256(team=api.team, role="emperor"), "unknown_role"),
        ):
            refused = await api.http.post("/v1/tasks", json=task_body(), headers=bearer(token))
            assert refused.status_code == 403, refused.text
            assert refused.json()["error"]["details"]["reason"] == why, refused.text
        assert await task_count(settings, api.team) == 0


async def test_a_token_has_its_members_role_lowered_never_raised_by_its_role_claim(
    settings: Settings,
) -> None:
    async with jwt_api(settings) as api:
        as_viewer = hs256(team=api.team, sub="viewer-1", role="owner")  # claims more than it is
        refused = await api.http.post("/v1/tasks", json=task_body(), headers=bearer(as_viewer))
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["details"]["missing_scope"] == "tasks:write"
        lowered = hs256(team=api.team, sub="svc", role="viewer")  # an admin, as a viewer here
        refused = await api.http.post("/v1/tasks", json=task_body(), headers=bearer(lowered))
        assert refused.status_code == 403, refused.text
        admin = hs256(team=api.team, sub="svc", role="admin")
        keys = await api.http.get("/v1/keys", headers=bearer(admin))
        assert keys.status_code == 200, keys.text
        assert await task_count(settings, api.team) == 0


async def test_a_jwks_outage_keeps_cached_keys_and_refuses_unknown_ones_cleanly(
    settings: Settings,
) -> None:
    async with jwt_api(settings) as api:
        token = RSA.sign(claims(team=api.team))
        assert (await api.http.get("/v1/tasks", headers=bearer(token))).status_code == 200
        api.jwks.stop()
        assert (await api.http.get("/v1/tasks", headers=bearer(token))).status_code == 200
        unknown = await api.http.get(
            "/v1/tasks", headers=bearer(SigningKey.ec("rotated").sign(claims(team=api.team)))
        )
        assert unknown.status_code == 401, unknown.text
        assert unknown.json()["error"]["details"]["reason"] == "keys_unavailable"


@pytest.mark.parametrize("token", ["cape_not-a-real-key", "eyJhbGciOiJIUzI1NiJ9.e30.x"])
async def test_with_jwt_off_only_api_keys_authenticate(settings: Settings, token: str) -> None:
    async with (
        running_api(settings) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        response = await http.get("/v1/tasks", headers=bearer(token))
        assert response.status_code == 401
        assert response.json()["error"]["message"] == "unknown API key"
