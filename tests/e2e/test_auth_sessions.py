"""Browser sessions over real HTTP: login with a key, cookie, CSRF, Origin, logout, revocation."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from api.sessions.signer import SessionSigner
from cape.settings import Settings
from tests.e2e.auth_support import revoke, task_body, task_count
from tests.harness import new_api_key, running_api

EVIL = "https://evil.example"


@asynccontextmanager
async def browser(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, str, str]]:
    """The API, a cookie-keeping client with no Authorization header, a fresh owner and key."""
    owner = f"web-{uuid.uuid4().hex[:10]}"
    key = await new_api_key(settings, owner=owner)
    async with (
        running_api(settings) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        yield http, owner, key


async def login(http: httpx.AsyncClient, key: str) -> dict[str, Any]:
    response = await http.post("/v1/session", json={"api_key": key})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def reason(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == {401: "unauthorized", 403: "forbidden"}[status]
    return str(error["details"]["reason"])


async def test_login_sets_an_httponly_samesite_cookie_and_a_csrf_token(settings: Settings) -> None:
    async with browser(settings) as (http, owner, key):
        response = await http.post("/v1/session", json={"api_key": key})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["owner"] == owner and body["method"] == "session" and body["csrf_token"]
        cookies = {c.split("=", 1)[0]: c for c in response.headers.get_list("set-cookie")}
        session, csrf = cookies["cape_session"], cookies["cape_csrf"]
        for cookie in (session, csrf):
            assert "SameSite=lax" in cookie and "Path=/" in cookie and "Max-Age=" in cookie
            assert "Secure" not in cookie  # plain http on loopback
        assert "HttpOnly" in session and "HttpOnly" not in csrf
        assert f"cape_csrf={body['csrf_token']};" in csrf
        assert key not in response.text  # the key is never echoed
        who = await http.get("/v1/session")
        assert who.status_code == 200, who.text
        assert who.json()["owner"] == owner and who.json()["method"] == "session"


async def test_state_changes_with_the_cookie_need_the_csrf_token(settings: Settings) -> None:
    async with browser(settings) as (http, owner, key):
        token = (await login(http, key))["csrf_token"]
        missing = await http.post("/v1/tasks", json=task_body())
        assert reason(missing, 403) == "csrf_token_missing"
        assert "X-CSRF-Token" in missing.json()["error"]["message"]
        wrong = await http.post(
            "/v1/tasks", json=task_body(), headers={"X-CSRF-Token": "x" + token}
        )
        assert reason(wrong, 403) == "csrf_token_mismatch"
        foreign = await http.post(
            "/v1/tasks", json=task_body(), headers={"X-CSRF-Token": token, "Origin": EVIL}
        )
        assert reason(foreign, 403) == "origin_mismatch"
        null = await http.post(
            "/v1/tasks", json=task_body(), headers={"X-CSRF-Token": token, "Origin": "null"}
        )
        assert reason(null, 403) == "origin_mismatch"
        assert await task_count(settings, owner) == 0  # nothing was written

        created = await http.post(
            "/v1/tasks",
            json=task_body(),
            headers={"X-CSRF-Token": token, "Origin": str(http.base_url).rstrip("/")},
        )
        assert created.status_code == 201, created.text
        task = await http.get(f"/v1/tasks/{created.json()['id']}")  # a read needs no token
        assert task.status_code == 200 and task.json()["owner"] == owner
        listed = await http.get("/v1/tasks")
        assert [t["id"] for t in listed.json()["items"]] == [created.json()["id"]]
        assert (
            reason(await http.get("/v1/tasks", headers={"Origin": EVIL}), 403) == "origin_mismatch"
        )


async def test_a_bearer_key_is_not_subject_to_csrf(settings: Settings) -> None:
    async with browser(settings) as (http, owner, key):
        await login(http, key)
        bearer = await http.post(
            "/v1/tasks",
            json=task_body(),
            headers={"Authorization": f"Bearer {key}", "Origin": EVIL},
        )
        assert bearer.status_code == 201, bearer.text
        who = await http.get("/v1/session", headers={"Authorization": f"Bearer {key}"})
        assert who.json()["method"] == "api_key"
        assert await task_count(settings, owner) == 1


async def test_logout_ends_the_session(settings: Settings) -> None:
    async with browser(settings) as (http, _owner, key):
        token = (await login(http, key))["csrf_token"]
        assert reason(await http.delete("/v1/session"), 403) == "csrf_token_missing"
        out = await http.delete("/v1/session", headers={"X-CSRF-Token": token})
        assert out.status_code == 204, out.text
        cleared = out.headers.get_list("set-cookie")
        assert len(cleared) == 2 and all("Max-Age=0" in c for c in cleared), cleared
        after = await http.get("/v1/session")
        assert after.status_code == 401, after.text
        assert (await http.get("/v1/tasks")).status_code == 401


async def test_revoking_the_key_ends_its_sessions_at_once(settings: Settings) -> None:
    async with browser(settings) as (http, _owner, key):
        await login(http, key)
        assert (await http.get("/v1/tasks")).status_code == 200
        await revoke(settings, key)
        assert reason(await http.get("/v1/tasks"), 401) == "key_revoked"
        again = await http.post("/v1/session", json={"api_key": key})
        assert again.status_code == 401, again.text


async def test_bad_logins_and_bad_cookies(settings: Settings) -> None:
    async with browser(settings) as (http, _owner, key):
        unknown = await http.post("/v1/session", json={"api_key": "cape_" + "x" * 40})
        assert unknown.status_code == 401 and "set-cookie" not in unknown.headers
        no_key = await http.post("/v1/session", json={})
        assert no_key.status_code == 422 and "api_key" in no_key.text
        foreign = await http.post("/v1/session", json={"api_key": key}, headers={"Origin": EVIL})
        assert reason(foreign, 403) == "origin_mismatch" and "set-cookie" not in foreign.headers

        await login(http, key)
        cookie = http.cookies["cape_session"]
        http.cookies.set(
            "cape_session", cookie[:-4] + ("AAAA" if not cookie.endswith("AAAA") else "BBBB")
        )
        assert reason(await http.get("/v1/session"), 401) == "session_invalid"

        secret = (Path(settings.data_dir) / "session-secret").read_text().strip().encode()
        key_id = (await http.get("/v1/session", headers={"Authorization": f"Bearer {key}"})).json()[
            "key_id"
        ]
        http.cookies.set("cape_session", SessionSigner(secret, -120).issue(key_id).cookie)
        assert reason(await http.get("/v1/session"), 401) == "session_expired"
        http.cookies.set("cape_session", SessionSigner(b"s" * 48, 600).issue(key_id).cookie)
        assert reason(await http.get("/v1/session"), 401) == "session_invalid"  # another secret


async def test_a_websocket_with_the_cookie_checks_its_origin(settings: Settings) -> None:
    async with browser(settings) as (http, owner, key):
        token = (await login(http, key))["csrf_token"]
        created = await http.post("/v1/tasks", json=task_body(), headers={"X-CSRF-Token": token})
        assert created.status_code == 201, created.text
        base = str(http.base_url).rstrip("/")
        url = base.replace("http://", "ws://", 1) + f"/v1/tasks/{created.json()['id']}/ws"
        cookie = {"Cookie": f"cape_session={http.cookies['cape_session']}"}
        async with asyncio.timeout(10), connect(url, additional_headers=cookie, origin=base) as ws:
            first = json.loads(await ws.recv())
            assert first["task_id"] == created.json()["id"]  # followed as the session's owner
        async with asyncio.timeout(10), connect(url, additional_headers=cookie, origin=EVIL) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert "must come from this site" in closed.value.rcvd.reason
        assert await task_count(settings, owner) == 1


async def test_unreadable_origin_and_host_headers_are_refused_not_crashed(
    settings: Settings,
) -> None:
    async with browser(settings) as (http, _owner, key):
        token = (await login(http, key))["csrf_token"]
        for origin in ("http://[::1", "http://127.0.0.1:99999", "not a url", ""):
            response = await http.post(
                "/v1/tasks", json=task_body(), headers={"X-CSRF-Token": token, "Origin": origin}
            )
            assert reason(response, 403) == "origin_mismatch", origin
        odd_host = await http.get("/v1/session", headers={"Host": "[::1", "Origin": "http://[::1"})
        assert reason(odd_host, 403) == "origin_mismatch"
