"""Keys, teams, members and roles over real HTTP: what each role may do, and that a revoked or
expired key, a deleted team or a removed member is refused on the very next request."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from cape.db.engine import create_engine, session_factory
from cape.db.models import ApiKey
from cape.settings import Settings
from tests.conftest import Api
from tests.harness import ROOT, new_api_key, settings_env


@pytest.fixture
async def owner(api: Api, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The owner of a fresh team."""
    key = await new_api_key(settings, owner=f"own-{uuid.uuid4().hex[:10]}")
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=30) as http:
        yield http


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    return body


async def team_id(http: httpx.AsyncClient) -> str:
    teams = (await http.get("/v1/teams")).json()
    assert len(teams) == 1, teams
    return str(teams[0]["id"])


async def member_key(
    api: Api, owner: httpx.AsyncClient, role: str, scopes: list[str] | None = None
) -> tuple[str, httpx.AsyncClient]:
    """A new member of the owner's team with `role`, and a client with a key of theirs."""
    team = await team_id(owner)
    added = await owner.post(
        f"/v1/teams/{team}/members", json={"user": f"m-{uuid.uuid4().hex[:10]}", "role": role}
    )
    assert added.status_code == 201, added.text
    user_id = added.json()["user_id"]
    created = await owner.post("/v1/keys", json={"user_id": user_id, "scopes": scopes})
    assert created.status_code == 201, created.text
    headers = {"Authorization": f"Bearer {created.json()['secret']}"}
    return user_id, httpx.AsyncClient(base_url=api.url, headers=headers, timeout=30)


async def test_keys_are_listed_without_secrets_and_a_revoked_key_is_refused_at_once(
    api: Api, owner: httpx.AsyncClient
) -> None:
    created = await owner.post("/v1/keys", json={"name": "ci", "scopes": ["tasks:read"]})
    assert created.status_code == 201, created.text
    key = created.json()
    assert key["secret"].startswith("cape_") and key["scopes"] == ["tasks:read"]
    assert created.headers["Location"] == f"/v1/keys/{key['id']}"
    listed = await owner.get("/v1/keys")
    assert key["secret"] not in listed.text and "secret" not in listed.text
    assert [k["prefix"] for k in listed.json() if k["id"] == key["id"]] == [key["secret"][:12]]
    async with httpx.AsyncClient(
        base_url=api.url, headers={"Authorization": f"Bearer {key['secret']}"}
    ) as ci:
        assert (await ci.get("/v1/tasks")).status_code == 200
        # Its scopes: reading only, whatever its user's role.
        refused = error(await ci.post("/v1/tasks", json={"agent": "assistant", "input": {}}), 403)
        assert refused["details"]["missing_scope"] == "tasks:write"
        assert "tasks:write" in refused["message"]
        revoked = await owner.delete(f"/v1/keys/{key['id']}")
        assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
        assert error(await ci.get("/v1/tasks"), 401)["message"] == "API key revoked"
    # Revoking again changes nothing.
    again = await owner.delete(f"/v1/keys/{key['id']}")
    assert again.json()["revoked_at"] == revoked.json()["revoked_at"]


async def test_a_key_grants_at_most_its_own_scopes_and_expires(
    api: Api, owner: httpx.AsyncClient, settings: Settings
) -> None:
    _, admin = await member_key(api, owner, "admin", ["admin"])
    async with admin:
        beyond = error(await admin.post("/v1/keys", json={"scopes": ["tasks:write"]}), 403)
        assert beyond["details"] == {"missing_scopes": ["tasks:write"]}
        past = datetime.now(UTC) - timedelta(minutes=1)
        invalid = error(await owner.post("/v1/keys", json={"expires_at": past.isoformat()}), 422)
        assert invalid["details"][0]["field"] == "body.expires_at"
        soon = datetime.now(UTC) + timedelta(days=1)
        created = await owner.post("/v1/keys", json={"expires_at": soon.isoformat()})
        assert created.status_code == 201, created.text
        secret, key_id = created.json()["secret"], created.json()["id"]
        async with httpx.AsyncClient(
            base_url=api.url, headers={"Authorization": f"Bearer {secret}"}
        ) as expiring:
            assert (await expiring.get("/v1/tasks")).status_code == 200
            engine = create_engine(settings)  # the day passes
            async with session_factory(engine).begin() as session:
                await session.execute(
                    update(ApiKey).where(ApiKey.id == key_id).values(expires_at=past)
                )
            await engine.dispose()
            assert error(await expiring.get("/v1/tasks"), 401)["message"] == "API key expired"


async def test_roles_viewer_reads_member_writes_admin_manages(
    api: Api, owner: httpx.AsyncClient
) -> None:
    team = await team_id(owner)
    viewer_id, viewer = await member_key(api, owner, "viewer")
    member_id, member = await member_key(api, owner, "member")
    async with viewer, member:
        assert (await viewer.get("/v1/tasks")).status_code == 200
        assert (await viewer.get(f"/v1/teams/{team}/members")).status_code == 200
        denied = error(
            await viewer.post("/v1/tasks", json={"agent": "assistant", "input": {}}), 403
        )
        assert denied["details"]["role"] == "viewer"
        # A member may run tasks (here: the body's problem, past the role check) but not
        # publish agents, manage keys or members.
        ran = await member.post("/v1/tasks", json={"agent": "assistant", "input": {}})
        assert error(ran, 422)["code"] == "invalid_input"
        agents = error(await member.post("/v1/agents", json={"name": "x"}), 403)
        assert agents["details"]["missing_scope"] == "agents:write"
        assert error(await member.get("/v1/keys"), 403)["details"]["missing_scope"] == "admin"
        # Promoted, the member's next request has the new rights; demoted, it loses them.
        promoted = await owner.patch(
            f"/v1/teams/{team}/members/{member_id}", json={"role": "admin"}
        )
        assert promoted.json()["role"] == "admin"
        assert (await member.get("/v1/keys")).status_code == 200
        # An admin manages members but makes no owner.
        made = await member.patch(f"/v1/teams/{team}/members/{viewer_id}", json={"role": "owner"})
        assert error(made, 403)["details"]["missing_role"] == "owner"
        await owner.patch(f"/v1/teams/{team}/members/{member_id}", json={"role": "viewer"})
        assert error(await member.get("/v1/keys"), 403)["details"]["role"] == "viewer"
        # Removed: the member's keys of this team are refused on the next request.
        assert (await owner.delete(f"/v1/teams/{team}/members/{member_id}")).status_code == 204
        gone = error(await member.get("/v1/tasks"), 401)
        assert gone["message"] == "the API key's user is no longer a member of its team"
        assert error(await viewer.delete(f"/v1/teams/{team}"), 403)["details"]["role"] == "viewer"


async def test_the_last_owner_stays_and_a_deleted_team_s_keys_are_refused(
    api: Api, owner: httpx.AsyncClient
) -> None:
    team = await team_id(owner)
    members = (await owner.get(f"/v1/teams/{team}/members")).json()
    [me] = [m for m in members if m["role"] == "owner"]
    last = error(await owner.delete(f"/v1/teams/{team}/members/{me['user_id']}"), 409)
    assert "last owner" in last["message"]
    demote = await owner.patch(f"/v1/teams/{team}/members/{me['user_id']}", json={"role": "admin"})
    assert error(demote, 409)["details"] == {"user_id": me["user_id"]}
    dup = await owner.post(f"/v1/teams/{team}/members", json={"user": me["user"]})
    assert error(dup, 409)["code"] == "conflict"
    bad = error(
        await owner.post(f"/v1/teams/{team}/members", json={"user": "x", "role": "god"}), 422
    )
    assert bad["details"][0]["field"] == "body.role"

    # A new team: its creator owns it and gets a key that sees only the new team.
    slug = f"new-{uuid.uuid4().hex[:8]}"
    created = await owner.post("/v1/teams", json={"slug": slug, "name": "New"})
    assert created.status_code == 201, created.text
    new = created.json()
    assert new["team"]["role"] == "owner" and new["team"]["slug"] == slug
    assert error(await owner.post("/v1/teams", json={"slug": slug}), 409)["details"] == {
        "slug": slug
    }
    assert error(await owner.post("/v1/teams", json={"slug": "Not A Slug"}), 422)
    listed = {t["slug"] for t in (await owner.get("/v1/teams")).json()}
    assert slug in listed and len(listed) == 2
    headers = {"Authorization": f"Bearer {new['key']['secret']}"}
    async with httpx.AsyncClient(base_url=api.url, headers=headers) as fresh:
        assert (await fresh.get("/v1/tasks")).json()["items"] == []
        # A key acts in its own team only: the other team's routes are 404 to it.
        assert error(await fresh.get(f"/v1/teams/{team}/members"), 404)["code"] == "not_found"
        assert error(await fresh.delete(f"/v1/teams/{team}"), 404)
        assert (await fresh.delete(f"/v1/teams/{new['team']['id']}")).status_code == 204
        refused = error(await fresh.get("/v1/tasks"), 401)
        assert refused["message"] == "the API key's team was deleted"
    assert (await owner.get("/v1/tasks")).status_code == 200  # the first team is untouched
    assert slug not in {t["slug"] for t in (await owner.get("/v1/teams")).json()}


async def test_the_stream_of_a_removed_member_is_refused_on_the_next_request(
    api: Api, owner: httpx.AsyncClient
) -> None:
    team = await team_id(owner)
    started = await owner.post("/v1/tasks", json={"agent": "assistant", "input": {"prompt": "p"}})
    assert started.status_code == 201, started.text  # no worker: it stays queued, its stream open
    task = started.json()["id"]
    member_id, member = await member_key(api, owner, "member")
    async with member, member.stream("GET", f"/v1/tasks/{task}/events") as stream:
        assert stream.status_code == 200
        lines = stream.aiter_lines()
        assert await anext(lines) == "retry: 1000"
        await owner.delete(f"/v1/teams/{team}/members/{member_id}")
        again = await member.get(f"/v1/tasks/{task}/events")
        assert error(again, 401)["message"].endswith("no longer a member of its team")
    await owner.post(f"/v1/tasks/{task}/cancel")


async def cape_keys(settings: Settings, url: str, key: str, *args: str) -> tuple[int, str]:
    """`python -m cli keys ...` as a real process against the API at `url`."""
    env = {k: v for k, v in settings_env(settings).items() if not k.startswith("CAPE_API")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli", "keys", *args, "--api-url", url, "--api-key", key,
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_cli_keys_create_ls_revoke_and_the_operator_s_first_key(
    api: Api, settings: Settings
) -> None:
    owner_name = f"op-{uuid.uuid4().hex[:8]}"
    # The operator's way: straight to the database, no API key needed.
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli", "keys", "create", "--owner", owner_name, "--team",
        f"{owner_name}-team", cwd=ROOT, env=settings_env(settings),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    first = out.decode().strip()
    assert first.startswith("cape_")
    code, made = await cape_keys(settings, api.url, first, "create", "--name", "ci",
                                 "--scope", "tasks:read")  # fmt: skip
    assert code == 0, made
    secret = made.strip()
    code, listed = await cape_keys(settings, api.url, first, "ls")
    assert code == 0 and secret[:12] in listed and secret not in listed, listed
    [row] = [line for line in listed.splitlines() if secret[:12] in line]
    assert " ci " in row and "tasks:read" in row and "expires never" in row
    async with httpx.AsyncClient(
        base_url=api.url, headers={"Authorization": f"Bearer {secret}"}
    ) as http:
        assert (await http.get("/v1/tasks")).status_code == 200
        code, out_revoke = await cape_keys(settings, api.url, first, "revoke", row.split()[0])
        assert code == 0 and out_revoke.startswith("revoked "), out_revoke
        assert (await http.get("/v1/tasks")).status_code == 401
    async with httpx.AsyncClient(
        base_url=api.url, headers={"Authorization": f"Bearer {first}"}
    ) as http:
        teams = (await http.get("/v1/teams")).json()
    assert [t["slug"] for t in teams] == [f"{owner_name}-team"]
