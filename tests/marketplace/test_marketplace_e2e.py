"""The marketplace end to end over the real API, worker and scripted model (issue 18, "Done
when"): team A publishes a signed package with a dependency; team B finds it, installs both
(lockfile written), runs its agent, rates it; analytics and trending reflect the run; uninstall
and a reinstall from the lockfile give the same agents. Then the refusals that need a server:
a conflict, a yanked dependency, a 50 MB upload, unaccepted permissions, uninstalling a
dependency, and an installed agent stopped at an undeclared tool and destination."""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.worker import Worker

from cape.marketplace.archive import build_archive
from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Script, Turn
from tests.conftest import Api
from tests.e2e.tooling import call, tool_steps, wait_task
from tests.harness import new_api_key
from tests.marketplace.support import agent, content_of, package, signed


@asynccontextmanager
async def team(api: Api, settings: Settings, name: str) -> AsyncIterator[httpx.AsyncClient]:
    key = await new_api_key(settings, owner=name)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=60) as client:
        yield client


def accepted(body: dict[str, Any]) -> list[str]:
    perms = body["manifest"]["permissions"]
    return sorted(
        [f"tool:{t}" for t in perms.get("tools", [])]
        + [f"network:{h}" for h in perms.get("network", [])]
    )


async def publish(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/v1/marketplace/packages", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def agent_specs(client: httpx.AsyncClient, names: list[str]) -> dict[str, Any]:
    specs = {}
    for name in names:
        got = await client.get(f"/v1/agents/{name}")
        assert got.status_code == 200, got.text
        version = got.json()["default_version"]
        spec = await client.get(f"/v1/agents/{name}/versions/{version}")
        specs[name] = spec.json()["spec"]
    return specs


async def test_publish_find_install_run_rate_measure_uninstall_reinstall(
    api: Api, settings: Settings, worker: Worker, fake_llm: FakeLLMServer
) -> None:
    tag = uuid.uuid4().hex[:8]
    key = Ed25519PrivateKey.generate()
    lib, app = f"lib-{tag}", f"notes-{tag}"
    lib_body = signed(package(lib, agents=[agent(f"helper-{tag}")], title=f"Helper {tag}"), key)
    app_body = signed(
        package(
            app,
            dependencies={lib: "^1.0"},
            agents=[agent(f"writer-{tag}", tools=["write_file", "web_fetch"])],
            permissions={"tools": ["write_file", "web_fetch"], "network": ["docs.example.com"]},
            title=f"Changelog writer {tag}",
            summary=f"Writes zanzibar{tag} release notes",
        ),
        key,
    )
    async with team(api, settings, f"mp-a-{tag}") as a, team(api, settings, f"mp-b-{tag}") as b:
        await publish(a, lib_body)
        archive = build_archive(content_of(app_body))
        sent = await a.post(
            "/v1/marketplace/packages",
            content=archive,
            headers={"Content-Type": "application/gzip"},
        )
        assert sent.status_code == 201, sent.text
        published = sent.json()
        assert published["signed"] and published["key_id"].startswith("ed25519:")
        assert {s["step"] for s in published["report"]} >= {"archive", "security", "signature"}

        found = await b.get("/v1/marketplace/packages", params={"q": f"zanzibar{tag}"})
        assert [p["name"] for p in found.json()["items"]] == [app]
        detail = (await b.get(f"/v1/marketplace/packages/{app}")).json()
        assert detail["versions"][0]["signed"] and detail["versions"][0]["public_key"]
        assert detail["versions"][0]["dependencies"] == {lib: "^1.0"}

        refused = await b.post("/v1/marketplace/installs", json={"package": app})
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["details"][0]["field"] == "body.accept_permissions"
        perms = sorted(set(accepted(app_body)) | set(accepted(lib_body)))
        installed = await b.post(
            "/v1/marketplace/installs", json={"package": app, "accept_permissions": perms}
        )
        assert installed.status_code == 201, installed.text
        lockfile = installed.json()["lockfile"]
        assert set(lockfile["packages"]) == {app, lib}
        assert lockfile["packages"][app]["dependencies"] == {lib: "1.0.0"}
        assert lockfile["packages"][app]["content_hash"] == published["content_hash"]
        names = [
            a
            for p in lockfile["packages"].values()
            for a in (x["installed_as"] for x in p["agents"].values())
        ]
        before = await agent_specs(b, names)
        writer = lockfile["packages"][app]["agents"][f"writer-{tag}"]["installed_as"]
        assert before[writer]["sandbox_limits"]["network_allow"] == ["docs.example.com"]

        # The installed agent runs; the sandbox stops an undeclared tool and destination.
        script = f"mp-{tag}"
        fake_llm.add_script(
            Script(
                name=script,
                turns=[
                    Turn(tool_calls=[call("shell", command="id")]),
                    Turn(tool_calls=[call("web_fetch", url="https://collector.evil.test/x")]),
                    Turn(content="release notes written"),
                ],
            )
        )
        created = await b.post(
            "/v1/tasks",
            json={"agent": writer, "model": f"script:{script}", "input": {"prompt": "v1"}},
        )
        assert created.status_code == 201, created.text
        final = await wait_task(Api(api.url, "", b), created.json()["id"])
        assert final["status"] == "succeeded", final
        steps = await tool_steps(settings, created.json()["id"])
        errors = [str(s.error) for s in steps]
        assert "not available to this agent" in errors[0], errors
        assert "not a destination this agent's package declared" in errors[1], errors

        rated = await b.post(
            f"/v1/marketplace/packages/{app}/reviews", json={"stars": 4, "text": "good"}
        )
        assert rated.status_code == 200, rated.text
        edited = await b.post(f"/v1/marketplace/packages/{app}/reviews", json={"stars": 5})
        assert edited.json()["stars"] == 5 and edited.json()["version"] == "1.0.0"
        user = edited.json()["user_id"]
        answered = await a.post(
            f"/v1/marketplace/packages/{app}/reviews/{user}/reply", json={"text": "thanks"}
        )
        assert answered.json()["reply"] == "thanks"
        not_publisher = await b.post(
            f"/v1/marketplace/packages/{app}/reviews/{user}/reply", json={"text": "me"}
        )
        assert not_publisher.status_code == 404

        stats = (await b.get(f"/v1/marketplace/packages/{app}")).json()
        assert stats["rating"] == 5.0 and stats["reviews"] == 1
        numbers = stats["analytics"]
        assert numbers["installs"] == 1 and numbers["active_installs"] == 1
        assert numbers["tasks_run"] == 1 and numbers["success_rate"] == 1.0
        assert numbers["p50_duration_seconds"] > 0 and numbers["tokens_per_task"] > 0
        assert numbers["last_7_days"] == 2 and numbers["trending"] > 0
        trending = (await b.get("/v1/marketplace/trending", params={"limit": 100})).json()
        assert app in [p["name"] for p in trending]
        overview = (await b.get("/v1/marketplace/analytics")).json()
        assert overview["tasks_run"] >= 1 and overview["installs"] >= 2

        # A dependency stays while its dependent is installed; uninstalling the app removes both.
        blocked = await b.delete(f"/v1/marketplace/installs/{lib}")
        assert blocked.status_code == 409 and app in blocked.text
        removed = await b.delete(f"/v1/marketplace/installs/{app}")
        assert sorted(removed.json()) == sorted([app, lib])
        assert (await b.get(f"/v1/agents/{writer}")).status_code == 404
        again = await b.post(
            "/v1/marketplace/installs", json={"lockfile": lockfile, "accept_permissions": perms}
        )
        assert again.status_code == 201, again.text
        assert again.json()["lockfile"] == lockfile
        assert await agent_specs(b, names) == before
        assert (await b.get("/v1/marketplace/lockfile")).json()["packages"] == lockfile["packages"]
        # Team A sees no install of team B's.
        assert (await a.get(f"/v1/marketplace/installs/{app}")).status_code == 404


async def test_conflicts_yanks_limits_and_updates_are_refused_or_shown(
    api: Api, settings: Settings
) -> None:
    tag = uuid.uuid4().hex[:8]
    base, left, right, top = (f"{n}-{tag}" for n in ("base", "left", "right", "top"))
    async with team(api, settings, f"mp-c-{tag}") as a:
        await publish(a, package(base, "1.0.0"))
        await publish(a, package(base, "2.0.0"))
        await publish(a, package(left, dependencies={base: "^1.0"}))
        await publish(a, package(right, dependencies={base: "^2.0"}))
        conflict = await a.post(
            "/v1/marketplace/packages", json=package(top, dependencies={left: "*", right: "*"})
        )
        assert conflict.status_code == 422
        assert "dependency_conflict" in conflict.text and f"{left}@1.0.0" in conflict.text
        assert f"{right}@1.0.0" in conflict.text

        perms = ["tool:write_file"]
        ok = await a.post(
            "/v1/marketplace/installs", json={"package": left, "accept_permissions": perms}
        )
        assert ok.status_code == 201, ok.text
        clash = await a.post(
            "/v1/marketplace/installs", json={"package": right, "accept_permissions": perms}
        )
        assert clash.status_code == 409 and clash.json()["error"]["details"]["reason"] == "conflict"
        assert (await a.get(f"/v1/marketplace/installs/{right}")).status_code == 404

        # Update: a new version with a new permission shows the diff and needs it accepted.
        await publish(
            a,
            package(
                left,
                "1.1.0",
                dependencies={base: "^1.0"},
                permissions={"tools": ["write_file", "read_file"]},
            ),
        )
        pinned = await a.post(f"/v1/marketplace/installs/{left}/pin", json={"pinned": True})
        assert pinned.json()["pinned"] is True
        assert (await a.post(f"/v1/marketplace/installs/{left}/update", json={})).status_code == 409
        await a.post(f"/v1/marketplace/installs/{left}/pin", json={"pinned": False})
        unaccepted = await a.post(f"/v1/marketplace/installs/{left}/update", json={})
        assert unaccepted.status_code == 422 and "tool:read_file" in unaccepted.text
        updated = await a.post(
            f"/v1/marketplace/installs/{left}/update",
            json={"accept_permissions": ["tool:read_file"]},
        )
        assert updated.status_code == 200, updated.text
        assert updated.json()["permission_diff"] == {"added": ["tool:read_file"], "removed": []}
        assert updated.json()["installed"][0]["version"] == "1.1.0"

        yanked = await a.post(
            f"/v1/marketplace/packages/{base}/versions/1.0.0/yank", json={"reason": "broken"}
        )
        assert yanked.json()["status"] == "yanked"
        dep_on_yanked = await a.post(
            "/v1/marketplace/packages", json=package(f"late-{tag}", dependencies={base: "~1.0.0"})
        )
        assert "dependency_yanked" in dep_on_yanked.text

        huge = await a.post(
            "/v1/marketplace/packages",
            content=b"\0" * (50 * 1024 * 1024),
            headers={"Content-Type": "application/gzip"},
        )
        assert huge.status_code == 413
        secret = await a.post(
            "/v1/marketplace/packages",
            json=package(f"leak-{tag}", files={"config.txt": "token ghp_" + "a" * 36}),
        )
        assert secret.status_code == 422 and "secret" in secret.text
        assert (await a.get(f"/v1/marketplace/packages/leak-{tag}")).status_code == 404
        forged = signed(package(f"forged-{tag}"), Ed25519PrivateKey.generate())
        forged["manifest"]["summary"] = "changed after signing"
        refused = await a.post("/v1/marketplace/packages", json=forged)
        assert refused.status_code == 422
        assert {d["code"] for d in refused.json()["error"]["details"]} == {"bad_signature"}
        escape = io.BytesIO()
        with zipfile.ZipFile(escape, "w") as archive:
            archive.writestr("../cape-package.json", "{}")
        sent = await a.post(
            "/v1/marketplace/packages",
            content=escape.getvalue(),
            headers={"Content-Type": "application/zip"},
        )
        assert sent.status_code == 422 and sent.json()["error"]["details"][0]["code"] == (
            "path_traversal"
        )
        categories = (await a.get("/v1/marketplace/categories")).json()
        assert len(categories) == 10 and categories[4]["category"] == "productivity"
        page = await a.get(
            "/v1/marketplace/packages",
            params={"publisher": f"mp-c-{tag}", "limit": 2, "sort": "newest"},
        )
        assert len(page.json()["items"]) == 2 and page.json()["next_cursor"]
