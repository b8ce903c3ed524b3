"""Text a database or a JSON response cannot hold: lone surrogates and NUL.

A lone surrogate (`"\\ud800"` in JSON) is a valid Python string but no UTF-8: once stored, every
route that renders it answered 500 for its owner. Input carrying one (or a NUL) is a 422 naming
the field; model text carrying one is stored with U+FFFD in its place.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from temporalio.worker import Worker

from cape.db.engine import create_engine
from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Turn
from tests.conftest import Api
from tests.e2e.test_api_errors import assert_fields
from tests.e2e.tooling import call, pretty, run_task
from tests.harness import stored

BAD = {"lone surrogate": "\ud800", "NUL": "\x00"}


def raw_json(body: Any) -> bytes:
    """`body` as JSON with escapes only: a lone surrogate travels as the text `\\ud800`."""
    return json.dumps(body, ensure_ascii=True).encode()


async def post(http: httpx.AsyncClient, path: str, body: Any) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    return await http.post(path, content=raw_json(body), headers=headers)


async def routes_answer(http: httpx.AsyncClient, *paths: str) -> None:
    for path in paths:
        response = await http.get(path)
        assert response.status_code == 200, (path, response.text)


@pytest.mark.parametrize("kind", list(BAD))
async def test_bad_text_in_every_stored_body_is_a_422_naming_the_field(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, kind: str
) -> None:
    bad = f"before {BAD[kind]} after"
    task = {"agent": "assistant", "input": {"prompt": bad}}
    assert_fields(await post(api.http, "/v1/tasks", task), "body.input.prompt")
    nested = {"agent": "assistant", "input": {"prompt": "ok", "items": ["fine", {"x": bad}]}}
    assert_fields(await post(api.http, "/v1/tasks", nested), "body.input.items.1.x")
    key = {"agent": "assistant", "input": {"prompt": "ok", bad: 1}}
    assert_fields(await post(api.http, "/v1/tasks", key), "body.input")

    schedule = {"agent": "assistant", "input": {"prompt": bad}, "cron": "0 9 * * *"}
    assert_fields(await post(api.http, "/v1/schedules", schedule), "body.input.prompt")
    agent = {"name": f"a-{uuid.uuid4().hex[:6]}", "description": bad, "system_prompt": "x"}
    assert_fields(await post(api.http, "/v1/agents", agent), "body.description")
    escape = "\\ud800" if kind == "lone surrogate" else "\\0"
    yaml_text = f'name: y-{uuid.uuid4().hex[:6]}\ndescription: "a {escape} b"\n'
    imported = await api.http.post(
        "/v1/agents/import", content=yaml_text, headers={"Content-Type": "application/yaml"}
    )
    assert_fields(imported, "body.description")

    created = await api.http.post(
        "/v1/tasks", json={"agent": "assistant", "input": {"prompt": "x"}}
    )
    assert created.status_code == 201, created.text
    task_id = created.json()["id"]
    answer = {"request_id": "approval-1", "action": "reject", "reason": bad}
    assert_fields(await post(api.http, f"/v1/tasks/{task_id}/input", answer), "body.reason")

    await routes_answer(api.http, "/v1/tasks", f"/v1/tasks/{task_id}", "/v1/schedules")
    await routes_answer(api.http, "/v1/agents", f"/v1/tasks/{task_id}/steps")


async def test_a_lone_surrogate_in_model_text_is_stored_replaced(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    turns = [
        Turn(content="thinking \udc00", tool_calls=[call("list_files", path=".")]),
        Turn(content="the answer \ud800 and a pair \ud83d\ude00 done"),
    ]
    task = await run_task(api, fake_llm, turns, agent="assistant")
    assert task["status"] == "succeeded", pretty(task)
    task_id = task["id"]
    await routes_answer(api.http, "/v1/tasks", f"/v1/tasks/{task_id}")
    await routes_answer(api.http, f"/v1/tasks/{task_id}/steps", f"/v1/tasks/{task_id}/events")

    shown = (await api.http.get(f"/v1/tasks/{task_id}")).json()
    text = json.dumps(shown["output"], ensure_ascii=False)
    assert "the answer \ufffd and a pair \U0001f600 done" in text, pretty(shown)
    steps, events = await stored(settings, task_id)
    everything = json.dumps([s.output for s in steps] + [e.data for e in events])
    assert "\\ud800" not in everything and "\\udc00" not in everything
    assert "thinking \\ufffd" in everything


async def test_a_row_stored_before_the_fix_reads_back_replaced(
    api: Api, settings: Settings
) -> None:
    # Earlier releases stored the input as JSON with the surrogate escaped: every read failed.
    created = await api.http.post(
        "/v1/tasks", json={"agent": "assistant", "input": {"prompt": "x"}}
    )
    assert created.status_code == 201, created.text
    task_id = created.json()["id"]
    old = json.dumps({"prompt": "old \ud800 row"})  # ensure_ascii: the text `\ud800`
    value = "CAST(:old AS json)" if not settings.is_sqlite else ":old"
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            update = text(f"UPDATE tasks SET input = {value} WHERE id = :id")
            await connection.execute(update, {"old": old, "id": task_id})
    finally:
        await engine.dispose()
    await routes_answer(api.http, "/v1/tasks", f"/v1/tasks/{task_id}")
    shown = (await api.http.get(f"/v1/tasks/{task_id}")).json()
    assert shown["input"] == {"prompt": "old \ufffd row"}, shown
