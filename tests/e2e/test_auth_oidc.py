"""Dashboard login through a real OIDC provider on loopback: code + PKCE, id_token, session.

The browser is an httpx client that keeps cookies and follows redirects by hand. Every failed
login is a 401/403 JSON body with `details.reason` and sets no session cookie.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from cape.settings import Settings
from cape.teams import personal_team_id
from tests.e2e.auth_support import task_body, task_count
from tests.harness import new_api_key, running_api
from tests.tokens.jwks_server import SigningKey
from tests.tokens.oidc_provider import CLIENT_ID, CLIENT_SECRET, OidcProvider


@dataclass
class OidcApi:
    http: httpx.AsyncClient  # the browser: keeps cookies, no Authorization header
    provider: OidcProvider
    team: str  # the team's slug (the id_token's team claim)
    key: str  # an API key of the team's owner
    user_id: str  # the id of member `user-1`


@asynccontextmanager
async def oidc_api(settings: Settings) -> AsyncIterator[OidcApi]:
    """The API with OIDC login on, a team whose member `user-1` the provider logs in."""
    team = f"team-{uuid.uuid4().hex[:10]}"
    with OidcProvider(team=team) as provider:
        configured = settings.model_copy(
            update={
                "oidc_issuer": provider.url,
                "oidc_client_id": CLIENT_ID,
                "oidc_client_secret": SecretStr(CLIENT_SECRET),
            }
        )
        key = await new_api_key(configured, owner=team)
        async with (
            running_api(configured) as url,
            httpx.AsyncClient(base_url=url, timeout=30) as http,
        ):
            added = await http.post(
                f"/v1/teams/{personal_team_id(team)}/members",
                json={"user": "user-1", "role": "member"},
                headers={"Authorization": f"Bearer {key}"},
            )
            assert added.status_code == 201, added.text
            yield OidcApi(http, provider, team, key, added.json()["user_id"])


async def to_callback(api: OidcApi, next_path: str | None = None) -> str:
    """Start a login and go through the provider: the callback URL it redirects back to."""
    params = {"next": next_path} if next_path is not None else {}
    login = await api.http.get("/v1/session/oidc/login", params=params)
    assert login.status_code == 302, login.text
    location = login.headers["location"]
    query = parse_qs(urlsplit(location).query)
    assert location.startswith(f"{api.provider.url}/authorize?")
    assert query["response_type"] == ["code"] and query["code_challenge_method"] == ["S256"]
    assert query["client_id"] == [CLIENT_ID] and query["scope"] == ["openid profile email"]
    assert query["state"][0] and query["nonce"][0] and query["code_challenge"][0]
    base = str(api.http.base_url).rstrip("/")
    assert query["redirect_uri"] == [f"{base}/v1/session/oidc/callback"]
    async with httpx.AsyncClient(timeout=30) as elsewhere:  # the provider's site
        authorized = await elsewhere.get(location)
    assert authorized.status_code == 302, authorized.text
    return authorized.headers["location"]


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return parts._replace(query=urlencode(query)).geturl()


def refused(response: httpx.Response, status: int) -> dict[str, Any]:
    """The error details of a failed login, which set no session cookie."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == {401: "unauthorized", 403: "forbidden"}[status]
    assert not any(c.startswith("cape_session=") for c in response.headers.get_list("set-cookie"))
    details: dict[str, Any] = error["details"]
    return details


async def test_oidc_login_makes_a_session_that_reads_and_writes_with_csrf(
    settings: Settings,
) -> None:
    async with oidc_api(settings) as api:
        callback = await api.http.get(await to_callback(api, "/tasks?view=mine"))
        assert callback.status_code == 302, callback.text
        assert callback.headers["location"] == "/tasks?view=mine"
        cookies = {c.split("=", 1)[0]: c for c in callback.headers.get_list("set-cookie")}
        assert "HttpOnly" in cookies["cape_session"] and "SameSite=lax" in cookies["cape_session"]
        assert "HttpOnly" not in cookies["cape_csrf"]
        assert "Max-Age=0" in cookies["cape_oidc"]  # the login's secrets are forgotten
        who = await api.http.get("/v1/session")
        assert who.status_code == 200, who.text
        assert who.json()["owner"] == "user-1" and who.json()["method"] == "session"
        assert who.json()["key_id"] == "oidc:user-1" and who.json()["role"] == "member"
        assert who.json()["team_id"] == personal_team_id(api.team)
        assert (await api.http.get("/v1/tasks")).status_code == 200
        csrf = api.http.cookies["cape_csrf"]
        missing = await api.http.post("/v1/tasks", json=task_body())
        assert refused(missing, 403)["reason"] == "csrf_token_missing"
        created = await api.http.post("/v1/tasks", json=task_body(), headers={"X-CSRF-Token": csrf})
        assert created.status_code == 201, created.text
        assert created.json()["owner"] == "user-1"
        assert await task_count(settings, api.team) == 1


async def test_state_code_and_provider_failures_set_no_session(settings: Settings) -> None:
    async with oidc_api(settings) as api:
        wrong_state = with_query(await to_callback(api), state="forged")
        assert refused(await api.http.get(wrong_state), 401)["reason"] == "bad_state"
        async with httpx.AsyncClient(base_url=api.http.base_url, timeout=30) as stranger:
            # A callback URL from someone else's login, in a browser that did not start it.
            planted = await stranger.get(await to_callback(api))
            assert refused(planted, 401)["reason"] == "bad_state"
        unknown = with_query(await to_callback(api), code="made-up")
        details = refused(await api.http.get(unknown), 401)
        assert details["reason"] == "token_exchange_failed"
        assert details["provider_error"] == "invalid_grant"
        first = await to_callback(api)
        assert (await api.http.get(first)).status_code == 302
        replay_state = parse_qs(urlsplit(await to_callback(api)).query)["state"][0]
        replayed = await api.http.get(with_query(first, state=replay_state))
        assert refused(replayed, 401)["reason"] == "token_exchange_failed"  # codes are one-use
        assert refused(await api.http.get("/v1/session/oidc/callback"), 401)["reason"] == (
            "bad_state"
        )
        api.provider.deny = True
        denied = await api.http.get(await to_callback(api))
        details = refused(denied, 401)
        assert details["reason"] == "provider_error" and details["provider_error"] == (
            "access_denied"
        )
        bad_next = await api.http.get("/v1/session/oidc/login", params={"next": "//evil.example"})
        assert bad_next.status_code == 422, bad_next.text
        assert bad_next.json()["error"]["details"][0]["field"] == "query.next"


@pytest.mark.parametrize(
    ("overrides", "cause"),
    [
        ({"nonce": "another-login"}, "wrong_nonce"),
        ({"nonce": None}, "wrong_nonce"),
        ({"aud": "another-client"}, "wrong_audience"),
        ({"iss": "https://idp.example.test"}, "wrong_issuer"),
        ({"exp": int(time.time()) - 3600}, "expired"),
    ],
)
async def test_a_bad_id_token_is_refused(
    settings: Settings, overrides: dict[str, Any], cause: str
) -> None:
    async with oidc_api(settings) as api:
        api.provider.overrides = overrides
        details = refused(await api.http.get(await to_callback(api)), 401)
        assert details == {"reason": "invalid_id_token", "cause": cause}
        assert "cape_session" not in api.http.cookies


async def test_foreign_keys_and_non_members_are_refused(settings: Settings) -> None:
    async with oidc_api(settings) as api:
        # The published key's kid on another key: the signature does not verify.
        api.provider.sign_with = SigningKey.rsa(api.provider.key.kid)
        details = refused(await api.http.get(await to_callback(api)), 401)
        assert details == {"reason": "invalid_id_token", "cause": "bad_signature"}
        api.provider.sign_with = None
        api.provider.subject = "stranger"
        details = refused(await api.http.get(await to_callback(api)), 403)
        assert details["reason"] == "not_a_member"
        api.provider.subject, api.provider.team = "user-1", None
        assert refused(await api.http.get(await to_callback(api)), 403)["reason"] == (
            "missing_team"
        )
        assert "cape_session" not in api.http.cookies


async def test_provider_down_is_a_clean_401(settings: Settings) -> None:
    async with oidc_api(settings) as api:
        callback = await to_callback(api)
        api.provider.stop()
        details = refused(await api.http.get(callback), 401)
        assert details["reason"] == "token_exchange_failed"
    with OidcProvider() as gone:
        url = gone.url
    configured = settings.model_copy(update={"oidc_issuer": url, "oidc_client_id": CLIENT_ID})
    async with (
        running_api(configured) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as http,
    ):
        login = await http.get("/v1/session/oidc/login")
        assert refused(login, 401)["reason"] == "provider_unavailable"


async def test_a_removed_member_loses_the_session_at_once(settings: Settings) -> None:
    async with oidc_api(settings) as api:
        assert (await api.http.get(await to_callback(api))).status_code == 302
        assert (await api.http.get("/v1/tasks")).status_code == 200
        removed = await api.http.delete(
            f"/v1/teams/{personal_team_id(api.team)}/members/{api.user_id}",
            headers={"Authorization": f"Bearer {api.key}"},
        )
        assert removed.status_code == 204, removed.text
        assert refused(await api.http.get("/v1/tasks"), 401)["reason"] == "member_removed"


async def test_oidc_off_answers_404(settings: Settings) -> None:
    async with (
        running_api(settings) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        for path in ("/v1/session/oidc/login", "/v1/session/oidc/callback?code=x&state=y"):
            response = await http.get(path)
            assert response.status_code == 404, response.text
            assert response.json()["error"]["details"]["reason"] == "oidc_not_configured"
