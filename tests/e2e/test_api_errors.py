"""Every error the API answers, over real HTTP: status, JSON body and headers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.worker import Worker
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Script, Turn
from tests.conftest import Api
from tests.harness import new_api_key

MIB = 1024 * 1024


def assert_error(
    response: httpx.Response, status: int, code: str, *, message: str | None = None
) -> Any:
    """Check the status and the `{"error": {code, message, details}}` body; return details."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, body
    assert error["code"] == code, body
    assert isinstance(error["message"], str) and error["message"], body
    if message is not None:
        assert message in error["message"], body
    return error["details"]


def assert_fields(response: httpx.Response, *fields: str) -> list[dict[str, str]]:
    """A 422 whose details name exactly `fields` (in any order)."""
    details = assert_error(response, 422, "invalid_input")
    assert isinstance(details, list), details
    assert sorted(d["field"] for d in details) == sorted(fields), details
    assert all(d["message"] for d in details), details
    return details


async def create_task(http: httpx.AsyncClient, model: str | None = None) -> str:
    """A task of `http`'s owner (without a worker it just stays queued)."""
    body: dict[str, Any] = {"agent": "assistant", "input": {"prompt": "hello"}}
    if model is not None:
        body["model"] = model
    response = await http.post("/v1/tasks", json=body)
    assert response.status_code == 201, response.text
    task_id: str = response.json()["id"]
    return task_id


def ws_url(api: Api, path: str) -> str:
    return api.url.replace("http://", "ws://", 1) + path


async def ws_refusal(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """Connect and return the close code and reason the server answers with."""
    async with asyncio.timeout(10), connect(url, additional_headers=headers) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None, "the server closed without a close frame"
    return closed.value.rcvd.code, closed.value.rcvd.reason


# -- 401 ---------------------------------------------------------------------------------------


async def test_401_without_or_with_a_wrong_key_on_every_route(api: Api) -> None:
    task_id = await create_task(api.http)
    requests: list[tuple[str, str, dict[str, Any] | None]] = [
        ("POST", "/v1/tasks", {"agent": "assistant", "input": {"prompt": "x"}}),
        ("GET", "/v1/tasks", None),
        ("GET", f"/v1/tasks/{task_id}", None),
        ("GET", f"/v1/tasks/{task_id}/steps", None),
        ("POST", f"/v1/tasks/{task_id}/cancel", None),
        ("GET", f"/v1/tasks/{task_id}/wait?timeout=1", None),
        ("GET", f"/v1/tasks/{task_id}/events", None),
        ("GET", "/v1/tasks/task_unknown", None),
    ]
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as anonymous:
        for method, path, body in requests:
            missing = await anonymous.request(method, path, json=body)
            assert_error(missing, 401, "unauthorized", message="missing API key")
            assert missing.headers["WWW-Authenticate"] == "Bearer", (method, path)

            wrong = await anonymous.request(
                method, path, json=body, headers={"Authorization": "Bearer cape_not-a-real-key"}
            )
            assert_error(wrong, 401, "unauthorized", message="unknown API key")
            assert wrong.headers["WWW-Authenticate"] == "Bearer", (method, path)

            # A non-Bearer scheme is no key at all.
            basic = await anonymous.request(
                method, path, json=body, headers={"Authorization": f"Basic {api.key}"}
            )
            assert_error(basic, 401, "unauthorized")

        # Streams also take `?access_token=` (browsers cannot set headers on EventSource).
        stream = f"/v1/tasks/{task_id}/events"
        wrong_token = await anonymous.get(stream, params={"access_token": "cape_wrong"})
        assert_error(wrong_token, 401, "unauthorized", message="unknown API key")
        assert wrong_token.headers["WWW-Authenticate"] == "Bearer"
        empty_token = await anonymous.get(stream, params={"access_token": ""})
        assert_error(empty_token, 401, "unauthorized", message="missing API key")
        # `access_token` is for streams only.
        not_a_stream = await anonymous.get(f"/v1/tasks/{task_id}", params={"access_token": api.key})
        assert_error(not_a_stream, 401, "unauthorized")


async def test_probes_need_no_key(api: Api) -> None:
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as anonymous:
        health = await anonymous.get("/healthz")
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}

        ready = await anonymous.get("/readyz")
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert body["status"] == "ok", body
        assert body["checks"] == {"database": "ok", "temporal": "ok"}
        assert body["reconciler"]["repaired_total"] == 0  # counts only, no task ids


# -- 404 ---------------------------------------------------------------------------------------


async def test_404_unknown_task_on_every_route(api: Api) -> None:
    missing = f"task_{uuid.uuid4().hex}"
    for method, path in [
        ("GET", f"/v1/tasks/{missing}"),
        ("GET", f"/v1/tasks/{missing}/steps"),
        ("GET", f"/v1/tasks/{missing}/events"),
        ("POST", f"/v1/tasks/{missing}/cancel"),
        ("GET", f"/v1/tasks/{missing}/wait?timeout=1"),
    ]:
        response = await api.http.request(method, path)
        details = assert_error(response, 404, "not_found", message=missing)
        assert details == {"task_id": missing}, (method, path)


async def test_404_unknown_agent(api: Api) -> None:
    response = await api.http.post("/v1/tasks", json={"agent": "nope", "input": {"prompt": "x"}})
    details = assert_error(response, 404, "not_found", message="'nope'")
    assert details == {"agent": "nope"}


async def test_404_unknown_route(api: Api) -> None:
    response = await api.http.get("/v1/nothing-here")
    assert_error(response, 404, "not_found")


async def test_another_owners_task_is_404(api: Api, settings: Settings) -> None:
    task_id = await create_task(api.http)
    other_key = await new_api_key(settings, owner=f"other-{uuid.uuid4().hex[:8]}")
    headers = {"Authorization": f"Bearer {other_key}"}
    async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=10) as other:
        for method, path in [
            ("GET", f"/v1/tasks/{task_id}"),
            ("GET", f"/v1/tasks/{task_id}/steps"),
            ("GET", f"/v1/tasks/{task_id}/events"),
            ("POST", f"/v1/tasks/{task_id}/cancel"),
            ("GET", f"/v1/tasks/{task_id}/wait?timeout=1"),
        ]:
            response = await other.request(method, path)
            assert_error(response, 404, "not_found", message=task_id)
        listed = await other.get("/v1/tasks")
        assert listed.status_code == 200
        assert task_id not in [t["id"] for t in listed.json()["items"]]

        # The same Idempotency-Key of another owner is another task.
        key = f"k-{uuid.uuid4().hex}"
        body = {"agent": "assistant", "input": {"prompt": "x"}}
        mine = await api.http.post("/v1/tasks", json=body, headers={"Idempotency-Key": key})
        theirs = await other.post("/v1/tasks", json=body, headers={"Idempotency-Key": key})
        assert mine.status_code == theirs.status_code == 201
        assert mine.json()["id"] != theirs.json()["id"]

    # The owner still sees it.
    assert (await api.http.get(f"/v1/tasks/{task_id}")).status_code == 200


# -- 413 ---------------------------------------------------------------------------------------


async def test_413_body_over_the_limit_with_content_length(api: Api) -> None:
    body = {"agent": "assistant", "input": {"prompt": "x" * MIB}}
    response = await api.http.post("/v1/tasks", json=body)
    assert response.request.headers["content-length"].isdigit()
    details = assert_error(response, 413, "payload_too_large", message=str(MIB))
    assert details == {"limit_bytes": MIB}


async def test_413_chunked_body_over_the_limit(api: Api) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"agent": "assistant", "input": {"prompt": "'
        for _ in range(18):
            yield b"x" * (64 * 1024)
        yield b'"}}'

    response = await api.http.post(
        "/v1/tasks", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    details = assert_error(response, 413, "payload_too_large", message=str(MIB))
    assert details == {"limit_bytes": MIB}


async def test_body_just_under_the_limit_is_accepted(api: Api) -> None:
    # Only the limit decides: a large body under it reaches validation (the prompt is fine).
    prompt = "y" * (MIB - 1024)
    response = await api.http.post(
        "/v1/tasks", json={"agent": "assistant", "input": {"prompt": prompt[:200_000]}}
    )
    assert response.status_code == 201, response.text
    too_long = await api.http.post(
        "/v1/tasks", json={"agent": "assistant", "input": {"prompt": prompt}}
    )
    assert_fields(too_long, "input.prompt")


# -- 422 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        pytest.param({"input": {"prompt": "x"}}, ["body.agent"], id="missing-agent"),
        pytest.param({"agent": "assistant"}, ["body.input"], id="missing-input"),
        pytest.param({"agent": "assistant", "input": {}}, ["input.prompt"], id="missing-prompt"),
        pytest.param(
            {"agent": "assistant", "input": {"prompt": 5}}, ["input.prompt"], id="prompt-type"
        ),
        pytest.param(
            {"agent": "assistant", "input": {"prompt": ""}}, ["input.prompt"], id="prompt-empty"
        ),
        pytest.param({"agent": 5, "input": "text"}, ["body.agent", "body.input"], id="wrong-types"),
        pytest.param({"agent": "", "input": {"prompt": "x"}}, ["body.agent"], id="empty-agent"),
        pytest.param(
            {"agent": "assistant", "input": {"prompt": "x"}, "colour": "red"},
            ["body.colour"],
            id="extra-field",
        ),
        pytest.param(
            {"agent": "assistant", "input": {"prompt": "x"}, "max_steps": 0},
            ["body.max_steps"],
            id="max-steps-0",
        ),
        pytest.param(
            {"agent": "assistant", "input": {"prompt": "x"}, "max_steps": 201},
            ["body.max_steps"],
            id="max-steps-201",
        ),
        pytest.param(
            {"agent": "assistant", "input": {"prompt": "x"}, "max_steps": "many"},
            ["body.max_steps"],
            id="max-steps-type",
        ),
        pytest.param(
            {"agent": "assistant", "input": {"prompt": "x"}, "model": ["a"]},
            ["body.model"],
            id="model-type",
        ),
    ],
)
async def test_422_names_the_field(api: Api, body: dict[str, Any], fields: list[str]) -> None:
    assert_fields(await api.http.post("/v1/tasks", json=body), *fields)


async def test_422_extra_input_property(api: Api) -> None:
    body = {"agent": "assistant", "input": {"prompt": "x", "colour": "red"}}
    details = assert_fields(await api.http.post("/v1/tasks", json=body), "input.colour")
    assert "colour" in details[0]["message"]


async def test_400_body_that_is_not_json(api: Api) -> None:
    broken = b'{"agent": "assistant",\n "input": }'
    for path in ("/v1/tasks", "/v1/schedules", "/v1/agents"):
        response = await api.http.post(
            path, content=broken, headers={"Content-Type": "application/json"}
        )
        details = assert_error(response, 400, "bad_request", message="not valid JSON")
        assert details == [{"field": "body", "message": response.json()["error"]["message"]}]
        assert "at character 33" in details[0]["message"], details


async def test_415_body_that_is_not_sent_as_json(api: Api) -> None:
    body = b'{"agent": "assistant", "input": {"prompt": "x"}}'
    task_id = await create_task(api.http)
    for path, media in [
        ("/v1/tasks", "text/plain"),
        ("/v1/tasks", None),
        ("/v1/tasks", "application/x-www-form-urlencoded"),
        (f"/v1/tasks/{task_id}/pause", "text/plain"),
    ]:
        headers = {"Content-Type": media} if media else {}
        response = await api.http.post(path, content=body, headers=headers)
        assert_error(
            response, 415, "unsupported_media_type", message="Content-Type: application/json"
        )
        assert (media or "no Content-Type") in response.json()["error"]["message"]
    # JSON that is not an object is still a field problem, and `+json` types are JSON.
    assert_fields(
        await api.http.post(
            "/v1/tasks", content=b"[1]", headers={"Content-Type": "application/json"}
        ),
        "body",
    )
    merge = await api.http.post(
        "/v1/tasks", content=body, headers={"Content-Type": "application/merge-patch+json"}
    )
    assert merge.status_code == 201, merge.text


async def test_422_bad_query_and_headers(api: Api) -> None:
    task_id = await create_task(api.http)
    assert_fields(await api.http.get("/v1/tasks", params={"limit": 0}), "query.limit")
    assert_fields(await api.http.get("/v1/tasks", params={"limit": 101}), "query.limit")
    assert_fields(await api.http.get("/v1/tasks", params={"status": "sleeping"}), "query.status")
    assert_fields(
        await api.http.get(f"/v1/tasks/{task_id}/wait", params={"timeout": 0}), "query.timeout"
    )
    assert_fields(
        await api.http.get(f"/v1/tasks/{task_id}/wait", params={"timeout": "soon"}),
        "query.timeout",
    )
    assert_fields(
        await api.http.get(f"/v1/tasks/{task_id}/events", params={"since": -1}), "query.since"
    )
    assert_fields(
        await api.http.post(
            "/v1/tasks",
            json={"agent": "assistant", "input": {"prompt": "x"}},
            headers={"Idempotency-Key": "k" * 257},
        ),
        "header.Idempotency-Key",
    )


async def test_422_bad_last_event_id(api: Api) -> None:
    task_id = await create_task(api.http)
    for bad in ["abc", "-1", "1.5"]:
        response = await api.http.get(f"/v1/tasks/{task_id}/events", headers={"Last-Event-ID": bad})
        assert_fields(response, "header.Last-Event-ID")


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!not-base64!!!",
        "YWJj",  # base64 of "abc": no separator
        "bm90LWEtZGF0ZXx0YXNrX3g=",  # "not-a-date|task_x"
        "_w==",  # not UTF-8
    ],
)
async def test_422_malformed_cursor(api: Api, cursor: str) -> None:
    assert_fields(await api.http.get("/v1/tasks", params={"cursor": cursor}), "query.cursor")


# -- 409 ---------------------------------------------------------------------------------------


async def test_409_cancel_a_finished_task(
    api: Api, worker: Worker, fake_llm: FakeLLMServer
) -> None:
    name = f"done-{uuid.uuid4().hex[:8]}"
    fake_llm.add_script(Script(name=name, turns=[Turn(content="All done.")]))
    task_id = await create_task(api.http, model=f"script:{name}")
    finished = await api.http.get(f"/v1/tasks/{task_id}/wait", params={"timeout": 30})
    assert finished.json()["status"] == "succeeded", finished.text

    response = await api.http.post(f"/v1/tasks/{task_id}/cancel")
    assert_error(response, 409, "conflict", message="succeeded")
    after = await api.http.get(f"/v1/tasks/{task_id}")
    assert after.json()["status"] == "succeeded"


# -- WebSocket ---------------------------------------------------------------------------------


async def test_websocket_without_a_valid_key_is_closed_1008(api: Api) -> None:
    task_id = await create_task(api.http)
    path = f"/v1/tasks/{task_id}/ws"

    code, reason = await ws_refusal(ws_url(api, path))
    assert code == 1008
    assert "missing API key" in reason

    code, reason = await ws_refusal(ws_url(api, f"{path}?access_token=cape_wrong"))
    assert code == 1008
    assert "unknown API key" in reason

    code, reason = await ws_refusal(
        ws_url(api, path), headers={"Authorization": "Bearer cape_wrong"}
    )
    assert code == 1008
    assert "unknown API key" in reason


async def test_websocket_unknown_or_foreign_task_is_closed_1008(
    api: Api, settings: Settings
) -> None:
    code, reason = await ws_refusal(
        ws_url(api, f"/v1/tasks/task_{uuid.uuid4().hex}/ws?access_token={api.key}")
    )
    assert code == 1008
    assert "not found" in reason

    task_id = await create_task(api.http)
    other_key = await new_api_key(settings, owner=f"other-{uuid.uuid4().hex[:8]}")
    code, reason = await ws_refusal(ws_url(api, f"/v1/tasks/{task_id}/ws?access_token={other_key}"))
    assert code == 1008
    assert "not found" in reason

    # A very long id still gives a valid (truncated) close reason.
    code, reason = await ws_refusal(ws_url(api, f"/v1/tasks/{'t' * 300}/ws?access_token={api.key}"))
    assert code == 1008
    assert reason.startswith("not found") and len(reason.encode()) <= 123


async def test_websocket_bad_since_is_refused(api: Api) -> None:
    # FastAPI's own query validation refuses the handshake (uvicorn answers HTTP 403).
    task_id = await create_task(api.http)
    url = ws_url(api, f"/v1/tasks/{task_id}/ws?access_token={api.key}&since=-1")
    with pytest.raises(InvalidStatus) as refused:
        async with asyncio.timeout(10), connect(url):
            pass
    assert refused.value.response.status_code == 403


async def test_websocket_with_a_key_is_accepted(api: Api) -> None:
    # A queued task (no worker): the socket opens and stays open; the key header works too.
    task_id = await create_task(api.http)
    headers = {"Authorization": f"Bearer {api.key}"}
    async with (
        asyncio.timeout(10),
        connect(ws_url(api, f"/v1/tasks/{task_id}/ws"), additional_headers=headers) as ws,
    ):
        first = await ws.recv()
        assert '"task-created"' in first
