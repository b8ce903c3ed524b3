"""The artifact API over real HTTP: upload, list, download, limits, ownership and auth."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from cape.artifacts import ArtifactStore
from cape.db.engine import create_engine, session_factory
from cape.db.models import Task
from cape.settings import Settings
from cape.teams import personal_team_id
from tests.conftest import Api
from tests.harness import new_api_key

MIB = 1024 * 1024


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Uploads limited to 1 MiB, the same as the global body limit."""
    return settings.model_copy(update={"artifact_max_upload_mb": 1})


async def make_task(settings: Settings, owner: str = "tester") -> str:
    """A task row of `owner` (no workflow: the artifact routes only need the row)."""
    engine = create_engine(settings)
    task_id = f"task_{uuid.uuid4().hex}"
    try:
        async with session_factory(engine).begin() as session:
            session.add(
                Task(
                    id=task_id, agent="assistant", agent_version="1", owner=owner,
                    team_id=personal_team_id(owner), status="succeeded", input={"prompt": "x"},
                    model="demo", max_steps=1, usage={}, last_seq=0,
                )
            )  # fmt: skip
    finally:
        await engine.dispose()
    return task_id


def error_of(response: httpx.Response, status: int, code: str) -> Any:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] == code, body
    return body["details"]


async def upload(
    http: httpx.AsyncClient, task_id: str, filename: str, data: bytes, media_type: str, **form: str
) -> httpx.Response:
    files = {"file": (filename, data, media_type)}
    return await http.post(f"/v1/tasks/{task_id}/artifacts", files=files, data=form)


async def test_upload_list_download_roundtrip(api: Api, settings: Settings) -> None:
    task_id = await make_task(settings)
    data = "name,value\nä,1\n".encode() * 100
    created = await upload(api.http, task_id, "table.csv", data, "text/csv; charset=utf-8")
    assert created.status_code == 201, created.text
    artifact = created.json()
    assert created.headers["Location"] == f"/v1/tasks/{task_id}/artifacts/{artifact['id']}"
    assert artifact["name"] == "table.csv" and artifact["media_type"] == "text/csv"
    assert artifact["size"] == len(data) and artifact["step_no"] is None
    assert artifact["sha256"] == hashlib.sha256(data).hexdigest()
    assert artifact["created_at"] is not None
    assert artifact["download_url"] == f"{api.url}{created.headers['Location']}"

    listed = await api.http.get(f"/v1/tasks/{task_id}/artifacts")
    assert listed.status_code == 200 and listed.json() == [artifact]

    download = await api.http.get(artifact["download_url"])
    assert download.status_code == 200
    assert download.content == data
    assert hashlib.sha256(download.content).hexdigest() == artifact["sha256"]
    assert download.headers["content-type"].startswith("text/csv")
    assert download.headers["content-disposition"] == 'attachment; filename="table.csv"'
    assert download.headers["x-content-type-options"] == "nosniff"
    assert sorted(p.name for p in settings.artifact_root.iterdir()) == [task_id]


async def test_name_field_and_tool_artifacts_are_listed(api: Api, settings: Settings) -> None:
    task_id = await make_task(settings)
    engine = create_engine(settings)
    try:
        store = ArtifactStore(session_factory(engine), settings.artifact_root)
        stored = await store.put(task_id, "report.pdf", b"%PDF-1.7", "application/pdf", step_no=3)
    finally:
        await engine.dispose()
    created = await upload(api.http, task_id, "ignored.txt", b"hi", "text/plain", name="résumé.md")
    assert created.status_code == 201, created.text
    listed = (await api.http.get(f"/v1/tasks/{task_id}/artifacts")).json()
    assert [(a["id"], a["name"], a["step_no"]) for a in listed] == [
        (stored.id, "report.pdf", 3),
        (created.json()["id"], "résumé.md", None),
    ]
    download = await api.http.get(listed[1]["download_url"])
    assert download.content == b"hi"
    assert "filename*=utf-8''r%C3%A9sum%C3%A9.md" in download.headers["content-disposition"]


async def test_an_upload_of_exactly_the_limit_passes_the_global_body_limit(
    api: Api, settings: Settings
) -> None:
    assert settings.max_body_bytes == settings.artifact_max_upload_mb * MIB
    task_id = await make_task(settings)
    data = b"z" * MIB
    created = await upload(api.http, task_id, "limit.txt", data, "text/plain")
    assert created.status_code == 201, created.text
    assert (await api.http.get(created.json()["download_url"])).content == data


async def test_wrong_media_type_is_422_naming_file(api: Api, settings: Settings) -> None:
    task_id = await make_task(settings)
    response = await upload(api.http, task_id, "tool.exe", b"MZ\x90", "application/x-msdownload")
    details = error_of(response, 422, "invalid_input")
    assert details[0]["field"] == "body.file"
    assert details[0]["allowed"] == settings.artifact_upload_types
    assert "application/x-msdownload" in details[0]["message"]
    # An unknown declared type is judged by the file name.
    guessed = await upload(api.http, task_id, "notes.md", b"# hi", "application/octet-stream")
    assert guessed.status_code == 201 and guessed.json()["media_type"] == "text/markdown"
    assert (await api.http.get(f"/v1/tasks/{task_id}/artifacts")).json() == [guessed.json()]


async def test_bad_names_and_bodies_are_422(api: Api, settings: Settings) -> None:
    task_id = await make_task(settings)
    url = f"/v1/tasks/{task_id}/artifacts"
    response = await upload(api.http, task_id, "a.txt", b"x", "text/plain", name="../etc/x.txt")
    assert error_of(response, 422, "invalid_input")[0]["field"] == "body.name"
    response = await upload(api.http, task_id, "dir\\a.txt", b"x", "text/plain")
    assert error_of(response, 422, "invalid_input")[0]["field"] == "body.file"
    response = await api.http.post(url, data={"name": "a.txt"}, files={"other": ("a", b"x")})
    assert error_of(response, 422, "invalid_input")[0]["field"] == "body.file"
    response = await api.http.post(url, json={"file": "x"})
    assert error_of(response, 422, "invalid_input")[0]["field"] == "body.file"
    assert (await api.http.get(url)).json() == []


async def test_too_big_upload_is_413(api: Api, settings: Settings) -> None:
    task_id = await make_task(settings)
    # Declared by Content-Length: refused before the body is read.
    response = await upload(api.http, task_id, "big.txt", b"x" * (MIB + 100_000), "text/plain")
    assert error_of(response, 413, "payload_too_large") == {"limit_bytes": MIB}
    # Just over the limit: the body fits the multipart allowance, the file does not.
    response = await upload(api.http, task_id, "big.txt", b"x" * (MIB + 1), "text/plain")
    assert error_of(response, 413, "payload_too_large") == {"limit_bytes": MIB}
    assert (await api.http.get(f"/v1/tasks/{task_id}/artifacts")).json() == []
    assert not list(settings.artifact_root.glob(".upload-*"))  # staged copies are removed


async def test_chunked_upload_is_cut_off_at_the_limit(api: Api, settings: Settings) -> None:
    task_id = await make_task(settings)
    boundary = "cape-test-boundary"

    async def body() -> AsyncIterator[bytes]:
        yield (
            f"--{boundary}\r\nContent-Disposition: form-data; name=file; filename=a.txt\r\n"
            "Content-Type: text/plain\r\n\r\n"
        ).encode()
        for _ in range(40):
            yield b"y" * (64 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await api.http.post(
        f"/v1/tasks/{task_id}/artifacts",
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert "content-length" not in response.request.headers
    assert error_of(response, 413, "payload_too_large") == {"limit_bytes": MIB}


async def test_other_owners_task_and_unknown_ids_are_404(api: Api, settings: Settings) -> None:
    theirs = await make_task(settings, owner=f"other-{uuid.uuid4().hex[:8]}")
    mine = await make_task(settings)
    key = await new_api_key(settings, owner=f"other-{uuid.uuid4().hex[:8]}")
    async with httpx.AsyncClient(
        base_url=api.url, headers={"Authorization": f"Bearer {key}"}
    ) as stranger:
        created = await upload(api.http, mine, "a.txt", b"mine", "text/plain")
        artifact_url = created.json()["download_url"]
        assert error_of(await stranger.get(artifact_url), 404, "not_found")
        assert error_of(await stranger.get(f"/v1/tasks/{mine}/artifacts"), 404, "not_found")
        response = await upload(stranger, mine, "b.txt", b"theirs", "text/plain")
        error_of(response, 404, "not_found")
    for url in (f"/v1/tasks/{theirs}/artifacts", "/v1/tasks/task_nope/artifacts"):
        error_of(await api.http.get(url), 404, "not_found")
    error_of(await upload(api.http, theirs, "c.txt", b"x", "text/plain"), 404, "not_found")
    unknown = await api.http.get(f"/v1/tasks/{mine}/artifacts/{uuid.uuid4().hex}")
    error_of(unknown, 404, "not_found")
    # An artifact id of one task is not found under another task of the same owner.
    other_mine = await make_task(settings)
    moved = artifact_url.replace(mine, other_mine)
    error_of(await api.http.get(moved), 404, "not_found")
    assert [a["name"] for a in (await api.http.get(f"/v1/tasks/{mine}/artifacts")).json()] == [
        "a.txt"
    ]


async def test_missing_auth_is_401(api: Api, settings: Settings) -> None:
    task_id = await make_task(settings)
    url = f"/v1/tasks/{task_id}/artifacts"
    async with httpx.AsyncClient(base_url=api.url) as anonymous:
        for response in (
            await anonymous.get(url),
            await anonymous.get(f"{url}/{uuid.uuid4().hex}"),
            await upload(anonymous, task_id, "a.txt", b"x", "text/plain"),
        ):
            error_of(response, 401, "unauthorized")
            assert response.headers["www-authenticate"] == "Bearer"
    assert (await api.http.get(url)).json() == []
