"""Isolation, proven on every route: another team sees and changes nothing, a viewer changes
nothing.

Team 1 first makes real objects (a task run by the scripted `demo` model, an uploaded artifact,
a published agent, a schedule, a viewer with a key). Then every operation of the app's OpenAPI
document is called with the key of team 2 (and, in a second run, a JWT of a team-2 member),
its path parameters filled with team 1's ids, and
every writing operation with the viewer's key. No response may hold team 1's data (a marker
written into all of it, its users' names, its keys' prefixes), a team-1 id in the path must
give 404, the viewer gets 403, and team 1's state read back afterwards is unchanged.

An operation the walk cannot fill (a new path parameter, a new body) fails the test: a new route
is covered the day it is added. Every write team 2 makes leaves exactly one entry in team 2's
audit trail (a new writing route that skips the audit fails here).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import yaml
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.worker import Worker
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError

from cape.contracts.temporal import TEAM_KEY
from cape.settings import Settings
from cape.teams import personal_team_id, slug_of
from tests.conftest import Api
from tests.e2e.agent_support import spec
from tests.e2e.audit_support import audit_count
from tests.events.support import routed
from tests.harness import new_api_key
from tests.marketplace.support import package as mp_package
from tests.tokens.jwks_server import AUDIENCE, HS_SECRET, ISSUER, claims, hand_signed

WRITE_METHODS = {"post", "put", "patch", "delete"}
# Writes that touch no team: any user may make a team of their own, log in and out.
VIEWER_MAY = {("post", "/v1/teams"), ("post", "/v1/session"), ("delete", "/v1/session")}
# Authenticated by the hook's HMAC signature, not a key: anyone else's request is a 401.
SIGNED = {("post", "/v1/hooks/{hook_id}")}
# Writes that record several facts in their transaction: a new agent and its first version.
SEVERAL_FACTS = {("post", "/v1/agents"), ("post", "/v1/agents/import")}


@dataclass
class TeamOne:
    """Team 1's objects and everything of it no other caller may ever see."""

    ids: dict[str, str]  # path parameter name -> a team-1 value
    forbidden: list[str]  # strings only team 1's data holds
    owner: httpx.AsyncClient
    viewer: httpx.AsyncClient


def bodies(tag: str) -> dict[tuple[str, str], Callable[[TeamOne], dict[str, Any]]]:
    """The request of each operation that takes a body: valid, so only scoping refuses it."""
    fresh = f"iso2-{tag}"
    new_spec = spec(name=f"{fresh}-agent", description="team two")
    return {
        ("post", "/v1/tasks"): lambda t: {"json": {"agent": "assistant", "model": "demo",
                                                   "input": {"prompt": "team two"}}},
        ("post", "/v1/tasks/{task_id}/pause"): lambda t: {"json": {"note": "two"}},
        ("post", "/v1/tasks/{task_id}/resume"): lambda t: {"json": {"note": "two"}},
        ("post", "/v1/tasks/{task_id}/rerun"): lambda t: {"json": {}},
        ("post", "/v1/tasks/{task_id}/fork"): lambda t: {"json": {"step": 2}},
        ("post", "/v1/tasks/{task_id}/input"): lambda t: {
            "json": {"request_id": "q1", "action": "approve"}
        },
        ("post", "/v1/tasks/{task_id}/artifacts"): lambda t: {
            "files": {"file": ("two.txt", b"team two", "text/plain")}
        },
        ("post", "/v1/schedules"): lambda t: {"json": {
            "agent": "assistant", "input": {"prompt": "two"}, "interval_seconds": 3600,
            "paused": True,
        }},
        ("patch", "/v1/schedules/{schedule_id}"): lambda t: {"json": {"note": "two"}},
        ("post", "/v1/schedules/{schedule_id}/pause"): lambda t: {"json": {"note": "two"}},
        ("post", "/v1/schedules/{schedule_id}/unpause"): lambda t: {"json": {"note": "two"}},
        ("post", "/v1/schedules/{schedule_id}/trigger"): lambda t: {"json": {}},
        ("post", "/v1/agents"): lambda t: {"json": new_spec},
        ("post", "/v1/agents/import"): lambda t: {
            "content": yaml.safe_dump({**new_spec, "name": f"{fresh}-yaml"}),
            "headers": {"Content-Type": "application/yaml"},
        },
        ("post", "/v1/agents/{name}/versions"): lambda t: {
            "json": spec(name=t.ids["name"], version="2.0.0")
        },
        ("put", "/v1/agents/{name}/versions/{version}"): lambda t: {
            "json": spec(name=t.ids["name"], version=t.ids["version"])
        },
        ("post", "/v1/agents/{name}/versions/{version}/deprecate"): lambda t: {
            "json": {"reason": "two"}
        },
        ("post", "/v1/agents/{name}/versions/{version}/yank"): lambda t: {
            "json": {"reason": "two"}
        },
        ("put", "/v1/agents/{name}/default"): lambda t: {"json": {"version": t.ids["version"]}},
        ("post", "/v1/keys"): lambda t: {"json": {"name": "two"}},
        # A key nobody holds: the answer must be a 401 that shows nothing.
        ("post", "/v1/session"): lambda t: {"json": {"api_key": "cape_" + "x" * 43}},
        ("post", "/v1/teams"): lambda t: {"json": {"slug": f"{fresh}-{uuid.uuid4().hex[:6]}"}},
        ("patch", "/v1/teams/{team_id}"): lambda t: {"json": {"rate_limit_rpm": 1}},
        ("post", "/v1/teams/{team_id}/members"): lambda t: {
            "json": {"user": f"{fresh}-user", "role": "admin"}
        },
        ("patch", "/v1/teams/{team_id}/members/{user_id}"): lambda t: {"json": {"role": "owner"}},
        ("post", "/v1/hooks"): lambda t: {"json": {"event_type": "iso.hook"}},
        ("post", "/v1/events/schedules"): lambda t: {"json": {
            "type": "iso.tick", "interval_seconds": 3600, "paused": True,
        }},
        ("post", "/v1/agents/{name}/versions/{version}/triggers/test"): lambda t: {
            "json": {"last": 5}
        },
        # The same dedupe_key as team 1's event: in team 2 it is a new event, never team 1's.
        ("post", "/v1/events"): lambda t: {"json": {"type": "iso.event", "data": {"n": 2},
                                                    "dedupe_key": t.ids["event_id"]}},
        # Same resource name, team 2's own lock: team 1's token is stale there (409).
        ("post", "/v1/locks/{resource}/acquire"): lambda t: {
            "json": {"holder": f"{fresh}-holder", "ttl_seconds": 60}
        },
        ("post", "/v1/locks/{resource}/renew"): lambda t: {"json": {"token": t.ids["lock_token"]}},
        ("post", "/v1/locks/{resource}/release"): lambda t: {
            "json": {"token": t.ids["lock_token"]}
        },
        # Team 2's own lock of that name: team 1's queue and lease never move.
        ("post", "/v1/locks/{resource}/withdraw"): lambda t: {
            "json": {"holder": f"{fresh}-waiter"}
        },
        # The catalogue is public: team 2 publishes and reviews in its own name; installs,
        # updates, pins and yanks aimed at team 1's install or package are 404s.
        ("post", "/v1/marketplace/packages"): lambda t: {"json": mp_package(f"{fresh}-pkg")},
        ("post", "/v1/marketplace/installs"): lambda t: {
            "json": {"package": f"{fresh}-none", "accept_permissions": []}
        },
        ("post", "/v1/marketplace/installs/{package}/update"): lambda t: {"json": {}},
        ("post", "/v1/marketplace/installs/{package}/pin"): lambda t: {"json": {"pinned": True}},
        ("post", "/v1/marketplace/packages/{package}/versions/{version}/yank"): lambda t: {
            "json": {"reason": "two"}
        },
        ("post", "/v1/marketplace/packages/{package}/reviews"): lambda t: {
            "json": {"stars": 3, "text": "two"}
        },
        ("post", "/v1/marketplace/packages/{package}/reviews/{user_id}/reply"): lambda t: {
            "json": {"text": "two"}
        },
        # Team 1's fence, on team 2's lock of the same name: never team 1's lease.
        ("post", "/v1/locks/{resource}/revoke"): lambda t: {"json": {"fence": 1}},
        ("post", "/v1/instances"): lambda t: {"json": {
            "name": f"{fresh}-inst", "agent": "assistant", "subscriptions": [{"event": "iso.*"}],
        }},
    }  # fmt: skip


async def make_team_one(api: Api, settings: Settings, tag: str) -> TeamOne:
    """Team 1 and its objects, made through the API with its owner's key."""
    marker = f"SECRET-{tag}"
    owner_name = f"iso1-{tag}"
    key = await new_api_key(settings, owner=owner_name, team=f"t1-{tag}")  # the operator's way
    owner = httpx.AsyncClient(
        base_url=api.url, headers={"Authorization": f"Bearer {key}"}, timeout=60
    )
    created = await owner.post(
        "/v1/tasks", json={"agent": "assistant", "model": "demo", "input": {"prompt": marker}}
    )
    assert created.status_code == 201, created.text
    task_id = created.json()["id"]
    waited = await owner.get(f"/v1/tasks/{task_id}/wait", params={"timeout": 60})
    assert waited.json()["status"] == "succeeded", waited.text
    uploaded = await owner.post(
        f"/v1/tasks/{task_id}/artifacts",
        files={"file": (f"{marker}.txt", marker.encode(), "text/plain")},
    )
    assert uploaded.status_code == 201, uploaded.text
    # Its capability is its name: GET /v1/capabilities/{name} from team 2 must be a 404.
    agent = spec(name=f"a1-{tag}", description=marker, system_prompt=marker,
                 capabilities=[f"a1-{tag}"])  # fmt: skip
    published = await owner.post("/v1/agents", params={"publish": "true"}, json=agent)
    assert published.status_code == 201, published.text
    schedule = await owner.post(
        "/v1/schedules",
        json={"agent": "assistant", "input": {"prompt": marker}, "interval_seconds": 3600,
              "paused": True, "note": marker},
    )  # fmt: skip
    assert schedule.status_code == 201, schedule.text
    event = await owner.post(
        "/v1/events", json={"type": "iso.event", "data": {"marker": marker},
                            "source": marker, "dedupe_key": f"d-{tag}"},
    )  # fmt: skip
    assert event.status_code == 202, event.text
    hook = await owner.post("/v1/hooks", json={"event_type": f"iso.{marker}"})
    assert hook.status_code == 201, hook.text
    await routed(owner, event.json()["id"])  # unhandled now: its state no longer changes
    team_id = (await owner.get("/v1/teams")).json()[0]["id"]
    viewer_name = f"iso1v-{tag}"
    added = await owner.post(
        f"/v1/teams/{team_id}/members",
        json={"user": viewer_name, "email": f"{marker}@example.com", "role": "viewer"},
    )
    assert added.status_code == 201, added.text
    viewer_key = await owner.post(
        "/v1/keys", json={"name": marker, "user_id": added.json()["user_id"],
                          "scopes": ["tasks:read", "tasks:write"]},
    )  # fmt: skip
    assert viewer_key.status_code == 201, viewer_key.text
    viewer = httpx.AsyncClient(
        base_url=api.url,
        headers={"Authorization": f"Bearer {viewer_key.json()['secret']}"},
        timeout=60,
    )
    lock = await owner.post(
        f"/v1/locks/r1-{tag}/acquire", json={"holder": f"{marker}-holder", "ttl_seconds": 3600}
    )
    assert lock.status_code == 200, lock.text
    package = f"p1-{tag}"  # public by design: it holds no marker
    published_package = await owner.post("/v1/marketplace/packages", json=mp_package(package))
    assert published_package.status_code == 201, published_package.text
    installed = await owner.post(
        "/v1/marketplace/installs",
        json={"package": package, "accept_permissions": ["tool:write_file"]},
    )
    assert installed.status_code == 201, installed.text
    inst = await owner.post(
        "/v1/instances", json={"name": f"i1-{tag}", "agent": agent["name"],
                               "subscriptions": [{"event": "iso.none"}], "input": {"m": marker}},
    )  # fmt: skip
    assert inst.status_code == 201, inst.text
    prefixes = [k["prefix"] for k in (await owner.get("/v1/keys")).json()]
    return TeamOne(
        ids={
            "task_id": task_id, "artifact_id": uploaded.json()["id"], "name": agent["name"],
            "version": agent["version"], "schedule_id": schedule.json()["id"],
            "key_id": viewer_key.json()["id"], "team_id": team_id,
            "user_id": added.json()["user_id"], "event_id": event.json()["id"],
            "hook_id": hook.json()["id"], "resource": f"r1-{tag}",
            "lock_token": lock.json()["token"], "package": package,
            "instance_id": inst.json()["id"],
        },
        forbidden=[marker, owner_name, viewer_name, *prefixes, hook.json()["secret"]],
        owner=owner,
        viewer=viewer,
    )  # fmt: skip


async def state_of(team: TeamOne) -> dict[str, Any]:
    """Team 1 as its owner reads it: every object the walk could have touched."""
    ids = team.ids
    reads = {
        "task": f"/v1/tasks/{ids['task_id']}",
        "steps": f"/v1/tasks/{ids['task_id']}/steps",
        "tasks": "/v1/tasks?limit=100",
        "artifacts": f"/v1/tasks/{ids['task_id']}/artifacts",
        "agent": f"/v1/agents/{ids['name']}",
        "versions": f"/v1/agents/{ids['name']}/versions",
        "schedule": f"/v1/schedules/{ids['schedule_id']}",
        "keys": "/v1/keys",
        "team": f"/v1/teams/{ids['team_id']}",
        "members": f"/v1/teams/{ids['team_id']}/members",
        "usage": "/v1/usage",
        "event": f"/v1/events/{ids['event_id']}",
        "events": "/v1/events",
        "hooks": "/v1/hooks",
        "lock": f"/v1/locks/{ids['resource']}",
        "locks": "/v1/locks",
        "installs": "/v1/marketplace/installs",
        "lockfile": "/v1/marketplace/lockfile",
        "instance": f"/v1/instances/{ids['instance_id']}",
        "instances": "/v1/instances",
        "instance_history": f"/v1/instances/{ids['instance_id']}/history",
        "capabilities": "/v1/capabilities",
        "capability": f"/v1/capabilities/{ids['name']}",
    }
    state: dict[str, Any] = {}
    for name, url in reads.items():
        response = await team.owner.get(url)
        assert response.status_code == 200, (url, response.text)
        state[name] = response.json()
    # Time-driven fields of a paused schedule: its next run times move with the clock.
    state["schedule"].pop("next_run_times")
    # An instance's row is saved by its workflow a moment after creation.
    state["instance"].pop("updated_at")
    for item in state["instances"]["items"]:
        item.pop("updated_at")
    state["viewer"] = (await team.viewer.get("/v1/tasks")).status_code
    return state


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Every (method, path, operation) of the OpenAPI document."""
    return [
        (method, path, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def request_of(
    method: str, path: str, op: dict[str, Any], team: TeamOne, made: dict[Any, Any]
) -> tuple[str, dict[str, Any], bool]:
    """The URL and request arguments of an operation, and whether a team-1 id is in the URL."""
    url, aimed = path, False
    query: dict[str, str] = {}
    for param in op.get("parameters", []):
        if param["in"] == "path":
            name = param["name"]
            if name == "event_type":
                value = "iso.event"
            elif name == "resource":  # a name within each team, not an id: team 2's own lock
                value = team.ids[name]
            elif name == "version" and path.startswith("/v1/marketplace/"):
                value = team.ids[name]  # a public package's version: the package rule decides
            elif name == "package":  # the catalogue is public; a team's installs are not
                value = team.ids[name]
                aimed = aimed or "/installs/" in path or path.endswith("/yank")
            else:
                assert name in team.ids, f"{method.upper()} {path}: cannot fill path param {name!r}"
                value, aimed = team.ids[name], True
            url = url.replace("{" + name + "}", value)
        elif param["in"] == "query" and param["name"] == "fence":
            query["fence"] = "1"
        elif param.get("required"):
            pytest.fail(
                f"{method.upper()} {path}: cannot fill required {param['in']} {param['name']!r}"
            )
    kwargs: dict[str, Any] = {}
    if "requestBody" in op:
        assert (method, path) in made, f"{method.upper()} {path}: add its body to bodies()"
        kwargs = made[(method, path)](team)
    if path.endswith("/wait") or path == "/v1/events/stream":
        kwargs["params"] = {"timeout": 1}
    if query:
        kwargs["params"] = query
    return url, kwargs, aimed


def leaks(response: httpx.Response, team: TeamOne) -> list[str]:
    text = response.text
    return [secret for secret in team.forbidden if secret in text]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # JWTs on (HS256, the development key source), so team 2 can also walk with a token.
    return settings.model_copy(
        update={
            "jwt_enabled": True,
            "jwt_hs256_secret": SecretStr(HS_SECRET),
            "jwt_issuer": ISSUER,
            "jwt_audience": AUDIENCE,
        }
    )


async def team_two_credential(api: Api, settings: Settings, tag: str, kind: str) -> str:
    """Team 2's API key, or a JWT of a member of team 2 (its owner adds the member)."""
    key = await new_api_key(settings, owner=f"iso2-{tag}")
    if kind == "key":
        return key
    member = f"iso2-{tag}-sso"
    added = await api.http.post(
        f"/v1/teams/{personal_team_id(f'iso2-{tag}')}/members",
        json={"user": member, "role": "owner"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert added.status_code == 201, added.text
    # Valid for an hour: the walk takes minutes on a loaded machine.
    token = claims(sub=member, team=slug_of(f"iso2-{tag}"), role=None, exp=int(time.time()) + 3600)
    return hand_signed({"alg": "HS256", "typ": "JWT"}, token, HS_SECRET.encode())


@pytest.mark.parametrize("kind", ["key", "jwt"])
async def test_no_other_team_and_no_viewer_reaches_team_one_on_any_route(
    api: Api, settings: Settings, worker: Worker, client: Client, kind: str
) -> None:
    tag = uuid.uuid4().hex[:10]
    team = await make_team_one(api, settings, tag)
    secret = await team_two_credential(api, settings, tag, kind)
    two = httpx.AsyncClient(
        base_url=api.url, headers={"Authorization": f"Bearer {secret}"}, timeout=60
    )
    two_team = personal_team_id(f"iso2-{tag}")
    before = await state_of(team)
    document = (await api.http.get("/openapi.json")).json()
    made = bodies(tag)
    walked = []
    async with two:
        for method, path, op in operations(document):
            url, kwargs, aimed = request_of(method, path, op, team, made)
            logged = await audit_count(settings, two_team)
            response = await two.request(method.upper(), url, **kwargs)
            where = f"team 2: {method.upper()} {url} -> {response.status_code}"
            # Every write of an authenticated caller leaves exactly one audit entry, whatever
            # its outcome; a read leaves none (a bad login's 401 has no caller to name).
            wrote = method in WRITE_METHODS and response.status_code != 401
            logged_now = await audit_count(settings, two_team)
            if wrote and (method, path) in SEVERAL_FACTS:
                assert logged_now > logged, f"{where}: not audited"
            else:
                assert logged_now == logged + wrote, f"{where}: {logged_now - logged} audit entries"
            assert not leaks(response, team), f"{where} shows {leaks(response, team)}"
            assert response.status_code < 500, f"{where}: {response.text}"
            if (method, path) in SIGNED:
                assert response.status_code == 401, f"{where}: {response.text}"
            elif aimed:
                assert response.status_code == 404, f"{where}: {response.text}"
            if method in WRITE_METHODS and (method, path) not in VIEWER_MAY | SIGNED:
                refused = await team.viewer.request(method.upper(), url, **kwargs)
                assert refused.status_code == 403, (
                    f"viewer: {method.upper()} {url} -> {refused.status_code} {refused.text}"
                )
                assert refused.json()["error"]["code"] == "forbidden"
            walked.append((method, path))
        # A team-2 task cannot take team 1's artifact as an input file, as JSON or multipart.
        refs = [{"artifact_id": team.ids["artifact_id"]}]
        task = {"agent": "assistant", "model": "demo", "input": {"prompt": "two"}, "files": refs}
        part = {"file": ("two.txt", b"two", "text/plain")}
        for sent in ({"json": task}, {"data": {"task": json.dumps(task)}, "files": part}):
            response = await two.post("/v1/tasks", **sent)
            assert response.status_code == 404, f"team 2: files of team 1: {response.text}"
            assert not leaks(response, team)
            refused = await team.viewer.post("/v1/tasks", **sent)
            assert refused.status_code == 403, refused.text
        # Streams: the WebSocket closes with the reason, like the SSE route's 404.
        ws = api.url.replace("http://", "ws://", 1) + f"/v1/tasks/{team.ids['task_id']}/ws"
        async with asyncio.timeout(30), connect(f"{ws}?access_token={secret}") as socket:
            with pytest.raises(ConnectionClosedError) as closed:
                await socket.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert "not found" in closed.value.rcvd.reason
    assert len(walked) == len(operations(document)) > 50
    assert await state_of(team) == before
    # Temporal knows each workflow's and schedule's team too.
    described = await client.get_workflow_handle(team.ids["task_id"]).describe()
    assert described.typed_search_attributes.get(TEAM_KEY) == team.ids["team_id"]
    schedule = await client.get_schedule_handle(team.ids["schedule_id"]).describe()
    assert schedule.typed_search_attributes.get(TEAM_KEY) == team.ids["team_id"]
    assert (await schedule.memo())["team"] == team.ids["team_id"]
    await team.owner.aclose()
    await team.viewer.aclose()


def test_every_operation_with_a_body_has_one_in_the_walk() -> None:
    # Without a server: the walk's table names only operations that exist.
    from api.app import create_app

    document = create_app(Settings()).openapi()
    with_body = {(method, path) for method, path, op in operations(document) if "requestBody" in op}
    assert set(bodies("x")) == with_body
    assert json.dumps(sorted(with_body))
