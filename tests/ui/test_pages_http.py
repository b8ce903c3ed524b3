"""The dashboard over plain HTTP: login and its refusals, redirects, bad filters, the form."""

from __future__ import annotations

import uuid

import httpx

from api.ui.auth import safe_next
from api.ui.start_form import schema_fields
from cape.settings import Settings
from tests.conftest import Api


async def test_login_refusals_redirects_and_bad_filters(api: Api, settings: Settings) -> None:
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as browser:
        # No session: pages redirect to the login page; htmx polls get HX-Redirect.
        first = await browser.get("/ui/tasks?status=failed")
        assert first.status_code == 303
        assert first.headers["location"] == "/ui/login?next=/ui/tasks%3Fstatus%3Dfailed"
        polled = await browser.get("/ui/tasks/rows", headers={"HX-Request": "true"})
        assert polled.status_code == 401 and polled.headers["HX-Redirect"].startswith("/ui/login")
        root = await browser.get("/")
        assert root.status_code == 303 and root.headers["location"] == "/ui/tasks"

        bad = await browser.post("/ui/login", data={"api_key": "cape_nope", "next": "/ui/agents"})
        assert bad.status_code == 401 and "login-error" in bad.text
        assert "cape_session" not in browser.cookies
        # Another site's page cannot log the browser in (login CSRF).
        foreign = await browser.post(
            "/ui/login", data={"api_key": api.key}, headers={"Origin": "https://evil.example"}
        )
        assert foreign.status_code == 403 and "cape_session" not in browser.cookies

        async def logins() -> int:
            found = await api.http.get("/v1/audit", params={"action": "session.create"})
            return [e["details"]["path"] for e in found.json()["items"]].count("/ui/login")

        before = await logins()
        # `next` only ever names a path of this site.
        ok = await browser.post("/ui/login", data={"api_key": api.key, "next": "//evil.example"})
        assert ok.status_code == 303 and ok.headers["location"] == "/ui/tasks"
        assert "cape_session" in browser.cookies
        # Audited like `POST /v1/session` (the refused key names no caller: no entry).
        assert await logins() == before + 1

        wrong = await browser.get("/ui/tasks?status=sleeping")
        assert wrong.status_code == 422 and "unknown status" in wrong.text
        window = await browser.get("/ui/tasks?since=1y")
        assert window.status_code == 422 and "unknown time window" in window.text
        missing = await browser.get("/ui/tasks/task_missing")
        assert missing.status_code == 404 and "not found" in missing.text
        assert (await browser.get("/ui/static/htmx.min.js")).status_code == 200

        # Logging out (the JSON route, with the CSRF token) ends the page session too.
        token = browser.cookies["cape_csrf"]
        out = await browser.delete("/v1/session", headers={"X-CSRF-Token": token})
        assert out.status_code == 204
        browser.cookies.clear()
        assert (await browser.get("/ui/tasks")).status_code == 303


async def test_a_viewer_gets_no_buttons_that_change_anything(api: Api) -> None:
    team = (await api.http.get("/v1/session")).json()["team_id"]
    name = f"ui-viewer-{uuid.uuid4().hex[:6]}"
    added = await api.http.post(f"/v1/teams/{team}/members", json={"user": name, "role": "viewer"})
    assert added.status_code == 201, added.text
    made = await api.http.post(
        "/v1/keys",
        json={"name": name, "user_id": added.json()["user_id"], "scopes": ["tasks:read"]},
    )
    assert made.status_code == 201, made.text
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as viewer:
        login = await viewer.post("/ui/login", data={"api_key": made.json()["secret"]})
        assert login.status_code == 303, login.text
        page = await viewer.get("/ui/tasks")
        assert page.status_code == 200 and "viewer" in page.text
        assert "Start a task" not in page.text
        agents = await viewer.get("/ui/agents")
        assert agents.status_code == 200 and "Deprecate" not in agents.text


async def test_what_a_task_holds_is_shown_as_text_never_as_markup(api: Api) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    made = await api.http.post("/v1/tasks", json={"agent": "assistant", "input": {"prompt": evil}})
    assert made.status_code == 201, made.text
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as browser:
        assert (await browser.post("/ui/login", data={"api_key": api.key})).status_code == 303
        page = await browser.get(f"/ui/tasks/{made.json()['id']}")
        assert page.status_code == 200
        assert "<script>alert" not in page.text and "<img src=x" not in page.text
        assert "&lt;script&gt;alert(" in page.text and "&lt;img src=x" in page.text
    await api.http.post(f"/v1/tasks/{made.json()['id']}/cancel")


async def test_artifact_previews_render_safely(api: Api) -> None:
    made = await api.http.post("/v1/tasks", json={"agent": "assistant", "input": {"prompt": "x"}})
    task_id = made.json()["id"]
    note = b"# Findings\n\n- one\n\n<script>alert(1)</script><a href='javascript:x()'>go</a>"
    files = {
        "notes.md": (note, "text/markdown"),
        "pic.png": (b"\x89PNG\r\n\x1a\n" + b"0" * 32, "image/png"),
        "bundle.zip": (b"PK\x03\x04", "application/zip"),
    }
    ids = {}
    for name, (data, media) in files.items():
        up = await api.http.post(
            f"/v1/tasks/{task_id}/artifacts", files={"file": (name, data, media)}
        )
        assert up.status_code == 201, up.text
        ids[name] = up.json()["id"]
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as browser:
        assert (await browser.post("/ui/login", data={"api_key": api.key})).status_code == 303
        page = await browser.get(f"/ui/tasks/{task_id}")
        assert page.text.count(">preview</a>") == 2  # the zip only downloads
        md = await browser.get(f"/ui/tasks/{task_id}/artifacts/{ids['notes.md']}")
        assert (
            md.status_code == 200 and "<h1>Findings</h1>" in md.text and "<li>one</li>" in md.text
        )
        assert "<script>alert" not in md.text and "javascript:" not in md.text
        assert "default-src 'none'" in md.headers["content-security-policy"]
        png = await browser.get(f"/ui/tasks/{task_id}/artifacts/{ids['pic.png']}")
        assert png.headers["content-type"] == "image/png"
        assert png.headers["content-disposition"].startswith("inline")
        zipped = await browser.get(f"/ui/tasks/{task_id}/artifacts/{ids['bundle.zip']}")
        assert zipped.status_code == 303
        assert zipped.headers["location"] == f"/v1/tasks/{task_id}/artifacts/{ids['bundle.zip']}"
    await api.http.post(f"/v1/tasks/{task_id}/cancel")


def test_the_form_has_a_control_per_property() -> None:
    fields = schema_fields(
        {
            "type": "object",
            "required": ["prompt"],
            "properties": {
                "prompt": {"type": "string"},
                "count": {"type": "integer", "title": "How many", "default": 3},
                "ratio": {"type": "number"},
                "loud": {"type": "boolean", "default": True},
                "level": {"enum": ["low", 2]},
                "tags": {"type": "array", "items": {"type": "string"}},
                "code": {"type": "string", "maxLength": 20},
            },
        }
    )
    shape = [(f.name, f.control, f.data_type, f.required) for f in fields]
    assert shape == [
        ("prompt", "textarea", "string", True),
        ("count", "number", "integer", False),
        ("ratio", "number", "number", False),
        ("loud", "checkbox", "boolean", False),
        ("level", "select", "json", False),
        ("tags", "json", "json", False),
        ("code", "text", "string", False),
    ]
    assert fields[1].label == "How many" and fields[1].default == "3"
    assert fields[4].options == (('"low"', "low"), ("2", "2"))
    assert [f.data_type for f in schema_fields({"type": "object"})] == ["whole"]


def test_next_is_a_local_path_only() -> None:
    assert safe_next("/ui/tasks/task_1?x=1") == "/ui/tasks/task_1?x=1"
    for bad in ("https://evil.example/", "//evil.example", "/\\evil.example", "", None, "ui"):
        assert safe_next(bad) == "/ui/tasks"
