"""Files into tasks (issue 21, part 3): multipart uploads and artifact ids land in `input/`.

Real API over HTTP, real worker and Temporal, the scripted model; the task's first tool step
reads the files, and a rerun and a fork keep them.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from temporalio.worker import Worker

from activities.conversation import load_messages
from cape.db.engine import create_engine, session_factory
from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Script, Turn
from tests.conftest import Api
from tests.e2e.test_artifacts_api import error_of, make_task, upload
from tests.e2e.tooling import call, pretty, tool_steps, wait_task
from tests.harness import new_api_key

MIB = 1024 * 1024
A_TXT = b"alpha from a multipart part\n"
B_CSV = b"name,value\nbeta,2\n"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Small limits, so the limit cases stay small."""
    return settings.model_copy(
        update={"artifact_max_upload_mb": 1, "task_files_max_mb": 1, "task_files_max_count": 3}
    )


def task_json(script: str, **extra: Any) -> dict[str, Any]:
    return {"agent": "engineer", "input": {"prompt": "read the files"},
            "model": f"script:{script}", **extra}  # fmt: skip


async def post_task(
    http: httpx.AsyncClient,
    task: dict[str, Any] | str,
    files: list[tuple[str, bytes, str]],
    **headers: str,
) -> httpx.Response:
    """`POST /v1/tasks` as multipart: `task` JSON and one `file` part per file."""
    body = task if isinstance(task, str) else json.dumps(task)
    parts = [("file", f) for f in files]
    return await http.post("/v1/tasks", data={"task": body}, files=parts, headers=headers)


async def source_artifact(api: Api, settings: Settings) -> str:
    """A `b.csv` uploaded to another task of the caller's team."""
    source = await make_task(settings)
    uploaded = await upload(api.http, source, "table.csv", B_CSV, "text/csv")
    assert uploaded.status_code == 201, uploaded.text
    return str(uploaded.json()["id"])


def reads_both(step_output: dict[str, Any]) -> bool:
    text = json.dumps(step_output)
    return "alpha from a multipart part" in text and "beta,2" in text


async def test_two_files_are_read_in_the_first_tool_step_and_kept_by_rerun_and_fork(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    artifact = await source_artifact(api, settings)
    script = f"files-{uuid.uuid4().hex[:8]}"
    fake_llm.add_script(Script(name=script, turns=[
        Turn(tool_calls=[call("shell", command="cat input/a.txt input/data/b.csv")]),
        Turn(content="done"),
    ]))  # fmt: skip
    refs = [{"artifact_id": artifact, "path": "data/b.csv"}]
    created = await post_task(api.http, task_json(script, files=refs), [("a.txt", A_TXT, "")])
    assert created.status_code == 201, created.text
    task = await wait_task(api, created.json()["id"])
    assert task["status"] == "succeeded", pretty(task)
    first = (await tool_steps(settings, task["id"]))[0]
    assert reads_both(first.output or {}), pretty(first.output)
    engine = create_engine(settings)
    try:
        async with session_factory(engine)() as session:
            asked = (await load_messages(session, task["id"], "system", 2))[1]["content"]
    finally:
        await engine.dispose()
    assert str(asked).endswith("(in the workspace): input/a.txt, input/data/b.csv"), asked

    listed = (await api.http.get(f"/v1/tasks/{task['id']}/artifacts")).json()
    inputs = sorted((a["name"], a["size"]) for a in listed if a["id"].startswith("in-"))
    assert inputs == [("a.txt", len(A_TXT)), ("data/b.csv", len(B_CSV))]

    rerun = await api.http.post(f"/v1/tasks/{task['id']}/rerun")
    assert rerun.status_code == 201, rerun.text
    again = await wait_task(api, rerun.json()["id"])
    assert again["status"] == "succeeded", pretty(again)
    assert reads_both((await tool_steps(settings, again["id"]))[0].output or {})

    forked = await api.http.post(f"/v1/tasks/{task['id']}/fork", json={"step": 2})
    assert forked.status_code == 201, forked.text
    fork = await wait_task(api, forked.json()["id"])
    assert fork["status"] == "succeeded", pretty(fork)
    assert reads_both((await tool_steps(settings, fork["id"]))[0].output or {})
    kept = (await api.http.get(f"/v1/tasks/{fork['id']}/artifacts")).json()
    assert sorted(a["name"] for a in kept if a["id"].startswith("in-")) == ["a.txt", "data/b.csv"]


async def test_json_files_and_idempotency_key(api: Api, settings: Settings) -> None:
    artifact = await source_artifact(api, settings)
    body = task_json("unused", files=[{"artifact_id": artifact}])
    key = {"Idempotency-Key": f"files-{uuid.uuid4().hex}"}
    first = await api.http.post("/v1/tasks", json=body, headers=key)
    assert first.status_code == 201, first.text
    again = await api.http.post("/v1/tasks", json=body, headers=key)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    other = await post_task(api.http, body, [("x.txt", b"other", "text/plain")], **key)
    error_of(other, 409, "conflict")
    listed = (await api.http.get(f"/v1/tasks/{first.json()['id']}/artifacts")).json()
    assert [a["name"] for a in listed] == ["table.csv"]  # the artifact's name is the default path

    multi = {"Idempotency-Key": f"files-{uuid.uuid4().hex}"}
    made = await post_task(api.http, task_json("unused"), [("a.txt", A_TXT, "")], **multi)
    assert made.status_code == 201, made.text
    same = await post_task(api.http, task_json("unused"), [("a.txt", A_TXT, "")], **multi)
    assert same.status_code == 200 and same.json()["id"] == made.json()["id"]


BAD_PARTS = {
    "parent": ([("../a.txt", b"x", "text/plain")], "body.file.0"),
    "absolute": ([("/etc/a.txt", b"x", "text/plain")], "body.file.0"),
    "backslash": ([("a\\..\\b.txt", b"x", "text/plain")], "body.file.0"),
    "type": ([("a.exe", b"MZ", "application/x-msdownload")], "body.file.0"),
    "file too large": ([("a.txt", b"x" * (MIB + 1), "text/plain")], "body.file.0"),
    "together too large": (
        [("a.txt", b"x" * (MIB // 2 + 1), "text/plain"), ("b.txt", b"y" * (MIB // 2), "")],
        "body.file.1",
    ),
    "too many": ([(f"{i}.txt", b"x", "text/plain") for i in range(4)], "body.file"),
    "twice": ([("a.txt", b"x", "text/plain"), ("a.txt", b"y", "text/plain")], "body.file.1"),
}


@pytest.mark.parametrize("case", sorted(BAD_PARTS))
async def test_bad_uploads_are_refused_naming_the_field(
    api: Api, settings: Settings, case: str
) -> None:
    files, field = BAD_PARTS[case]
    refused = await post_task(api.http, task_json("unused"), files)
    details = error_of(refused, 422, "invalid_input")
    assert details[0]["field"] == field, details


async def test_bad_task_fields_and_references(api: Api, settings: Settings) -> None:
    artifact = await source_artifact(api, settings)
    one = [("a.txt", b"x", "text/plain")]
    details = error_of(await post_task(api.http, "{", one), 400, "bad_request")
    assert details[0]["field"] == "body.task"
    details = error_of(await post_task(api.http, {"input": {}}, one), 422, "invalid_input")
    assert details[0]["field"] == "body.task.agent"
    no_task = await api.http.post("/v1/tasks", files=[("file", ("a.txt", b"x", "text/plain"))])
    assert error_of(no_task, 422, "invalid_input")[0]["field"] == "body.task"
    for path in ("../b.csv", "/b.csv", "a/./b.csv", "a//b.csv"):
        body = task_json("unused", files=[{"artifact_id": artifact, "path": path}])
        details = error_of(await api.http.post("/v1/tasks", json=body), 422, "invalid_input")
        assert details[0]["field"] == "body.files.0.path", (path, details)
    missing = task_json("unused", files=[{"artifact_id": "in-nothing"}])
    error_of(await api.http.post("/v1/tasks", json=missing), 404, "not_found")
    text = await api.http.post("/v1/tasks", content=b"hi", headers={"Content-Type": "text/plain"})
    error_of(text, 415, "unsupported_media_type")
    # Past the files' total, the parts' overhead and the task's own limit: cut off streaming.
    huge = await post_task(api.http, task_json("unused"), [("a.txt", b"x" * 3 * MIB, "")])
    error_of(huge, 413, "payload_too_large")


async def test_another_teams_artifact_is_not_found(api: Api, settings: Settings) -> None:
    artifact = await source_artifact(api, settings)
    stranger = await new_api_key(settings, owner=f"stranger-{uuid.uuid4().hex[:6]}")
    body = task_json("unused", files=[{"artifact_id": artifact}])
    async with httpx.AsyncClient(
        base_url=api.url, headers={"Authorization": f"Bearer {stranger}"}
    ) as http:
        refused = await http.post("/v1/tasks", json=body)
    details = error_of(refused, 404, "not_found")
    assert details[0]["field"] == "body.files.0.artifact_id"
