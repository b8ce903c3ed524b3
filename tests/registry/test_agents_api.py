"""The registry API over real HTTP: versions and their lifecycle, ownership, built-ins, audit."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import select

from cape.db.engine import create_engine, session_factory
from cape.db.models import AuditEvent
from cape.settings import Settings
from tests.conftest import Api
from tests.e2e.test_api_errors import assert_error, assert_fields
from tests.registry.conftest import publish, spec, unique


async def test_create_get_and_list_versions(api: Api) -> None:
    name = unique()
    created = await api.http.post("/v1/agents", json=spec(name, tags=["alpha"], category="ops"))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["version"]["status"] == "draft" and body["version"]["version"] == "1.0.0"
    assert body["version"]["spec"]["tools"] == ["read_file"]
    agent = body["agent"]
    assert (agent["name"], agent["owner"], agent["builtin"]) == (name, "tester", False)
    assert (agent["category"], agent["tags"]) == ("ops", ["alpha"])
    assert agent["default_version"] is None and agent["latest"] is None

    published = await api.http.post(
        f"/v1/agents/{name}/versions", json=spec(name, "1.1.0"), params={"publish": "true"}
    )
    assert published.status_code == 201, published.text
    assert published.json()["status"] == "published"
    assert published.json()["published_at"] is not None

    got = (await api.http.get(f"/v1/agents/{name}")).json()
    assert (got["default_version"], got["latest"], got["default_pinned"]) == (
        "1.1.0",
        "1.1.0",
        False,
    )
    assert [(v["version"], v["status"]) for v in got["versions"]] == [
        ("1.0.0", "draft"),
        ("1.1.0", "published"),
    ]
    listed = (await api.http.get(f"/v1/agents/{name}/versions")).json()
    assert [v["version"] for v in listed] == ["1.0.0", "1.1.0"]
    one = (await api.http.get(f"/v1/agents/{name}/versions/1.1.0")).json()
    assert one["spec"]["name"] == name and one["links"]["export"].endswith("/1.1.0/export")
    schemas = (await api.http.get(f"/v1/agents/{name}/versions/1.1.0/schemas")).json()
    assert schemas == {"input_schema": spec(name)["input_schema"], "output_schema": None}


async def test_published_versions_never_change(api: Api) -> None:
    name = unique()
    assert (await api.http.post("/v1/agents", json=spec(name))).status_code == 201
    # A draft can be replaced...
    changed = spec(name, description="second draft")
    replaced = await api.http.put(f"/v1/agents/{name}/versions/1.0.0", json=changed)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["spec"]["description"] == "second draft"
    assert (await api.http.post(f"/v1/agents/{name}/versions/1.0.0/publish")).status_code == 200
    # ...a published version never.
    again = await api.http.put(f"/v1/agents/{name}/versions/1.0.0", json=spec(name))
    assert_error(again, 409, "conflict", message="published")
    assert_error(await api.http.post(f"/v1/agents/{name}/versions/1.0.0/publish"), 409, "conflict")
    for version in ("1.0.0", "1.0.0+build.2"):  # the same precedence is the same version
        duplicate = await api.http.post(f"/v1/agents/{name}/versions", json=spec(name, version))
        assert_error(duplicate, 409, "conflict", message="already has version 1.0.0")
    got = (await api.http.get(f"/v1/agents/{name}/versions/1.0.0")).json()
    assert got["spec"]["description"] == "second draft"
    # The path and the spec must agree.
    mismatch = await api.http.put(f"/v1/agents/{name}/versions/1.0.0", json=spec(name, "1.0.1"))
    assert_fields(mismatch, "spec.version")
    wrong = await api.http.post(f"/v1/agents/{name}/versions", json=spec(unique(), "2.0.0"))
    assert_fields(wrong, "spec.name")


async def test_deprecate_yank_and_default(api: Api) -> None:
    name = unique()
    await publish(api.http, name, "1.0.0", "1.1.0")
    assert (await api.http.post(f"/v1/agents/{name}/versions", json=spec(name, "2.0.0"))).is_success
    base = f"/v1/agents/{name}/versions"

    bad = [
        ({"reason": "old", "successor": "9.9.9"}, "no version 9.9.9"),
        ({"reason": "old", "successor": "2.0.0"}, "draft"),
        ({"reason": "old", "successor": "1.0.0"}, "itself"),
    ]
    for body, why in bad:
        details = assert_fields(
            await api.http.post(f"{base}/1.0.0/deprecate", json=body), "body.successor"
        )
        assert why in details[0]["message"]
    assert_fields(await api.http.post(f"{base}/1.0.0/deprecate", json={}), "body.reason")
    deprecated = await api.http.post(
        f"{base}/1.0.0/deprecate", json={"reason": "slow", "successor": "1.1.0"}
    )
    assert deprecated.status_code == 200, deprecated.text
    assert deprecated.json()["status"] == "deprecated"
    assert (deprecated.json()["status_reason"], deprecated.json()["successor"]) == ("slow", "1.1.0")
    assert_error(
        await api.http.post(f"{base}/2.0.0/deprecate", json={"reason": "x"}), 409, "conflict"
    )

    # Only published or deprecated versions become the default.
    assert_error(
        await api.http.put(f"/v1/agents/{name}/default", json={"version": "2.0.0"}),
        409,
        "conflict",
        message="draft",
    )
    assert_error(
        await api.http.put(f"/v1/agents/{name}/default", json={"version": "7.0.0"}),
        404,
        "not_found",
    )
    pinned = await api.http.put(f"/v1/agents/{name}/default", json={"version": "1.0.0"})
    assert pinned.status_code == 200, pinned.text
    assert (pinned.json()["default_version"], pinned.json()["default_pinned"]) == ("1.0.0", True)

    # Yanking the default drops the pin: the newest published version is the default again.
    assert_error(await api.http.post(f"{base}/2.0.0/yank", json={"reason": "x"}), 409, "conflict")
    yanked = await api.http.post(f"{base}/1.0.0/yank", json={"reason": "leaks secrets"})
    assert yanked.status_code == 200, yanked.text
    assert (yanked.json()["status"], yanked.json()["status_reason"]) == ("yanked", "leaks secrets")
    got = (await api.http.get(f"/v1/agents/{name}")).json()
    assert (got["default_version"], got["default_pinned"]) == ("1.1.0", False)
    assert_error(await api.http.post(f"{base}/1.0.0/yank", json={"reason": "x"}), 409, "conflict")
    assert_error(
        await api.http.put(f"/v1/agents/{name}/default", json={"version": "1.0.0"}), 409, "conflict"
    )


async def test_spec_problems_are_listed_by_field(api: Api) -> None:
    data = spec(unique(), "1.0", tools=["read_file", "teleport"], colour="red")
    data["system_prompt"] = "{{ oops"
    data["limits"] = {"max_steps": 0}
    data["model"] = {"name": "m", "fallbacks": [{"name": "m"}]}
    response = await api.http.post("/v1/agents", json=data)
    assert_fields(
        response,
        "spec.version",
        "spec.tools.1",
        "spec.colour",
        "spec.system_prompt",
        "spec.limits.max_steps",
        "spec.model.fallbacks.0",
    )
    assert_fields(await api.http.post("/v1/agents", json=["a"]), "body")


async def test_only_its_team_sees_and_changes_an_agent(api: Api, other: httpx.AsyncClient) -> None:
    name = unique()
    await publish(api.http, name, "1.0.0")
    draft = await api.http.post(f"/v1/agents/{name}/versions", json=spec(name, "1.1.0"))
    assert draft.status_code == 201
    base = f"/v1/agents/{name}"
    # Another team never learns of it, published or draft: reads and changes are 404.
    for path in (base, f"{base}/versions", f"{base}/versions/1.0.0", f"{base}/versions/1.1.0",
                 f"{base}/versions/1.0.0/export"):  # fmt: skip
        assert_error(await other.get(path), 404, "not_found")
    assert name not in [
        a["name"] for a in (await other.get("/v1/agents", params={"name": name})).json()["items"]
    ]
    for method, path, body in [
        ("POST", f"{base}/versions", spec(name, "3.0.0")),
        ("PUT", f"{base}/versions/1.1.0", spec(name, "1.1.0")),
        ("POST", f"{base}/versions/1.1.0/publish", None),
        ("POST", f"{base}/versions/1.0.0/deprecate", {"reason": "mine now"}),
        ("POST", f"{base}/versions/1.0.0/yank", {"reason": "mine now"}),
        ("PUT", f"{base}/default", {"version": "1.0.0"}),
    ]:
        response = await other.request(method, path, json=body)
        assert_error(response, 404, "not_found", message=repr(name))
    # Names are one namespace: the name is taken, and that is all it says.
    taken = assert_error(await other.post("/v1/agents", json=spec(name, "3.0.0")), 409, "conflict")
    assert taken == {"agent": name}
    # Nothing changed.
    mine = (await api.http.get(base)).json()
    assert [(v["version"], v["status"]) for v in mine["versions"]] == [
        ("1.0.0", "published"),
        ("1.1.0", "draft"),
    ]


async def test_builtins_are_listed_and_read_only(api: Api) -> None:
    listed = (await api.http.get("/v1/agents", params={"name": "assistant"})).json()["items"]
    assistant = next(a for a in listed if a["name"] == "assistant")
    assert (assistant["owner"], assistant["builtin"]) == ("system", True)
    assert (assistant["default_version"], assistant["category"]) == ("0.1.0", "general")
    engineer = (await api.http.get("/v1/agents/engineer/versions/0.1.0")).json()
    assert engineer["status"] == "published"
    assert engineer["spec"]["sandbox_limits"] == {"wall_seconds": 300, "memory_bytes": 1073741824}
    for method, path, body in [
        ("POST", "/v1/agents", spec("assistant", "9.0.0")),
        ("POST", "/v1/agents/assistant/versions", spec("assistant", "9.0.0")),
        ("POST", "/v1/agents/assistant/versions/0.1.0/yank", {"reason": "x"}),
        ("POST", "/v1/agents/engineer/versions/0.1.0/deprecate", {"reason": "x"}),
        ("PUT", "/v1/agents/assistant/default", {"version": "0.1.0"}),
    ]:
        assert_error(
            await api.http.request(method, path, json=body), 403, "forbidden", message="read-only"
        )


async def test_search_filters_and_pages(api: Api, other: httpx.AsyncClient) -> None:
    prefix = unique("search")
    await publish(
        api.http,
        f"{prefix}-a",
        "1.0.0",
        tags=["red"],
        category="reports",
        goals=["Summarise quarterly numbers"],
    )
    await publish(
        api.http,
        f"{prefix}-b",
        "1.0.0",
        tags=["blue"],
        triggers=[{"event": "deploy.done", "filter": {"env": "prod"}}],
    )
    await publish(other, f"{prefix}-c", "1.0.0", tags=["red"], description="Another team's")
    assert (await api.http.post("/v1/agents", json=spec(f"{prefix}-d"))).status_code == 201

    async def names(http: httpx.AsyncClient, **params: str) -> list[str]:
        response = await http.get("/v1/agents", params={"name": prefix, **params})
        assert response.status_code == 200, response.text
        return [a["name"].removeprefix(prefix) for a in response.json()["items"]]

    assert await names(api.http) == ["-a", "-b", "-d"]  # each team's own only, drafts too
    assert await names(other) == ["-c"]
    assert await names(api.http, tag="red") == ["-a"]
    assert await names(api.http, category="reports") == ["-a"]
    assert await names(api.http, q="QUARTERLY") == ["-a"]
    assert await names(api.http, q="another team") == []
    assert await names(other, q="another team") == ["-c"]
    assert await names(api.http, trigger="deploy.done") == ["-b"]

    seen, cursor = [], None
    while True:
        params = {"name": prefix, "limit": "1"} | ({"cursor": cursor} if cursor else {})
        page = (await api.http.get("/v1/agents", params=params)).json()
        seen += [a["name"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"{prefix}-{x}" for x in "abd"]
    assert_fields(await api.http.get("/v1/agents", params={"cursor": "%%%"}), "query.cursor")
    assert_fields(await api.http.get("/v1/agents", params={"limit": "0"}), "query.limit")

    theirs = (await other.get("/v1/agents/triggers/deploy.done")).json()
    assert not [a for a in theirs["items"] if a["name"].startswith(prefix)]
    triggered = (await api.http.get("/v1/agents/triggers/deploy.done")).json()
    mine = [a for a in triggered["items"] if a["name"].startswith(prefix)]
    assert mine == [
        {
            "name": f"{prefix}-b",
            "version": "1.0.0",
            "owner": "tester",
            "description": f"{prefix}-b for tests",
            "triggers": [
                {
                    "event": "deploy.done",
                    "filter": {"env": "prod"},
                    "capability": None,
                    "complexity": None,
                }
            ],
        },
    ]
    assert (await api.http.get("/v1/agents/triggers/nothing.listens")).json()["items"] == []


async def test_yaml_export_import_round_trip(api: Api) -> None:
    name = unique()
    await publish(
        api.http,
        name,
        "1.0.0",
        goals=["Be brief"],
        system_prompt="Line one\nLine two {{ input.prompt }}\n",
    )
    exported = await api.http.get(f"/v1/agents/{name}/versions/1.0.0/export")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/yaml")
    text = exported.text
    assert text.startswith(f"name: {name}\nversion: 1.0.0\n")
    assert "system_prompt: |" in text

    bumped = text.replace("version: 1.0.0", "version: 1.1.0")
    imported = await api.http.post(
        "/v1/agents/import",
        content=bumped,
        params={"publish": "true"},
        headers={"Content-Type": "application/yaml; charset=utf-8"},
    )
    assert imported.status_code == 201, imported.text
    assert imported.json()["version"]["status"] == "published"
    old = (await api.http.get(f"/v1/agents/{name}/versions/1.0.0")).json()["spec"]
    new = (await api.http.get(f"/v1/agents/{name}/versions/1.1.0")).json()["spec"]
    assert new == {**old, "version": "1.1.0"}
    again = await api.http.get(f"/v1/agents/{name}/versions/1.1.0/export")
    assert again.text == bumped

    fresh = unique()
    text_yaml = {"Content-Type": "text/yaml"}
    created = await api.http.post(
        "/v1/agents/import",
        content=f"name: {fresh}\nversion: 0.1.0\nsystem_prompt: hi\n",
        headers=text_yaml,
    )
    assert created.status_code == 201, created.text
    assert created.json()["version"]["status"] == "draft"

    as_json = await api.http.post("/v1/agents/import", json={"name": fresh})
    assert_error(as_json, 415, "unsupported_media_type")
    broken = await api.http.post("/v1/agents/import", content="name: [x\n", headers=text_yaml)
    details = assert_fields(broken, "body")
    assert "line 2, column 1" in details[0]["message"]
    listing = await api.http.post("/v1/agents/import", content="- a\n- b\n", headers=text_yaml)
    assert_fields(listing, "body")
    invalid = await api.http.post(
        "/v1/agents/import", content=f"name: {fresh}\nversion: x\n", headers=text_yaml
    )
    assert_fields(invalid, "spec.version", "spec.system_prompt")
    for number in ("1.2", "2"):  # YAML numbers, not strings
        numeric = await api.http.post(
            "/v1/agents/import",
            content=f"name: {fresh}\nversion: {number}\nsystem_prompt: hi\n",
            headers=text_yaml,
        )
        [problem] = assert_fields(numeric, "spec.version")
        assert problem["message"].startswith("not a semantic version"), problem
        assert f"{number} is a number here: quote it" in problem["message"], problem


async def test_unknown_agents_and_versions_are_404(api: Api) -> None:
    missing = unique("missing")
    paths = [
        f"/v1/agents/{missing}",
        f"/v1/agents/{missing}/versions",
        f"/v1/agents/{missing}/versions/1.0.0",
        f"/v1/agents/{missing}/versions/1.0.0/export",
        "/v1/agents/assistant/versions/9.9.9",
        "/v1/agents/assistant/versions/9.9.9/schemas",
    ]
    for path in paths:
        assert_error(await api.http.get(path), 404, "not_found")


async def test_every_change_is_audited(api: Api, settings: Settings) -> None:
    name = unique()
    assert (await api.http.post("/v1/agents", json=spec(name))).status_code == 201
    base = f"/v1/agents/{name}/versions"
    await api.http.put(f"{base}/1.0.0", json=spec(name, description="v2"))
    await api.http.post(f"{base}/1.0.0/publish")
    await publish(api.http, name, "1.1.0")
    await api.http.put(f"/v1/agents/{name}/default", json={"version": "1.0.0"})
    await api.http.post(f"{base}/1.0.0/deprecate", json={"reason": "old", "successor": "1.1.0"})
    await api.http.post(f"{base}/1.0.0/yank", json={"reason": "bad"})
    engine = create_engine(settings)
    try:
        async with session_factory(engine)() as session:
            rows = list(
                await session.scalars(
                    select(AuditEvent).where(AuditEvent.resource_id == name).order_by(AuditEvent.id)
                )
            )
    finally:
        await engine.dispose()
    assert [(r.action, r.actor, r.resource_type) for r in rows] == [
        (action, "tester", "agent")
        for action in (
            "agent.create",
            "agent.version.add",
            "agent.version.replace",
            "agent.version.publish",
            "agent.version.add",
            "agent.default",
            "agent.version.deprecate",
            "agent.version.yank",
        )
    ]
    assert {r.team_id for r in rows} == {"team_tester"}
    assert len({r.key_id for r in rows}) == 1 and rows[0].key_id  # which key made each change
    assert {r.outcome for r in rows} == {"ok"} and {r.address for r in rows} == {"127.0.0.1"}
    assert rows[-1].details == {"version": "1.0.0", "reason": "bad", "default_cleared": True}


async def test_concurrent_creates_make_one_agent(api: Api, other: httpx.AsyncClient) -> None:
    name = unique()
    clients = [api.http, api.http, other, other]
    answers = await asyncio.gather(*(c.post("/v1/agents", json=spec(name)) for c in clients))
    codes = sorted(r.status_code for r in answers)
    assert codes.count(201) == 1 and set(codes) <= {201, 403, 409}, [r.text for r in answers]
    winner = clients[[r.status_code for r in answers].index(201)]
    versions = (await winner.get(f"/v1/agents/{name}/versions")).json()
    assert [v["version"] for v in versions] == ["1.0.0"]
