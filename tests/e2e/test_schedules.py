"""Schedules over real HTTP on the real Temporal dev server: runs, tasks, pause, patch, errors."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import select
from temporalio.client import (
    Client,
    ScheduleActionStartWorkflow,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError
from temporalio.worker import Worker

from cape.contracts.task_input import AgentTaskInput
from cape.db.engine import create_engine, session_factory
from cape.db.models import Task
from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Script, Turn
from tests.conftest import Api
from tests.e2e.test_api_errors import assert_fields
from tests.harness import ROOT, free_port, new_api_key, running_api

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T | None]], timeout: float = 12.0, every: float = 0.1
) -> T:
    """Poll `probe` until it returns something other than None (bounded by `timeout`)."""
    async with asyncio.timeout(timeout):
        while True:
            value = await probe()
            if value is not None:
                return value
            await asyncio.sleep(every)


@pytest.fixture
async def made(client: Client) -> AsyncIterator[list[str]]:
    """Ids of schedules a test creates; deleted afterwards (the dev server is shared)."""
    ids: list[str] = []
    yield ids
    for schedule_id in ids:
        with contextlib.suppress(RPCError):
            await client.get_schedule_handle(schedule_id).delete()


@asynccontextmanager
async def owner_client(api: Api, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client for a fresh owner, so its listings hold only this test's schedules."""
    key = await new_api_key(settings, owner=f"owner-{uuid.uuid4().hex[:10]}")
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=30) as http:
        yield http


def script(fake_llm: FakeLLMServer, text: str) -> str:
    name = f"sched-{uuid.uuid4().hex[:8]}"
    fake_llm.add_script(Script(name=name, turns=[Turn(content=text)]))
    return f"script:{name}"


async def create(
    http: httpx.AsyncClient, made: list[str], model: str = "demo", **fields: Any
) -> dict[str, Any]:
    body = {"agent": "assistant", "input": {"prompt": "on schedule"}, "model": model, **fields}
    response = await http.post("/v1/schedules", json=body)
    assert response.status_code == 201, response.text
    schedule: dict[str, Any] = response.json()
    made.append(schedule["id"])
    assert response.headers["Location"] == f"/v1/schedules/{schedule['id']}"
    return schedule


async def get(http: httpx.AsyncClient, schedule_id: str) -> dict[str, Any]:
    response = await http.get(f"/v1/schedules/{schedule_id}")
    assert response.status_code == 200, response.text
    schedule: dict[str, Any] = response.json()
    return schedule


async def schedule_tasks(http: httpx.AsyncClient, schedule_id: str) -> list[dict[str, Any]]:
    response = await http.get(f"/v1/schedules/{schedule_id}/tasks", params={"limit": 100})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def ended(http: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    response = await http.get(f"/v1/tasks/{task_id}/wait", params={"timeout": 20})
    assert response.status_code == 200, response.text
    task: dict[str, Any] = response.json()
    return task


async def rows(settings: Settings, schedule_id: str) -> list[Task]:
    engine = create_engine(settings)
    try:
        async with session_factory(engine)() as session:
            query = select(Task).where(Task.schedule_id == schedule_id)
            return list(await session.scalars(query))
    finally:
        await engine.dispose()


async def runs_at_least(http: httpx.AsyncClient, schedule_id: str, count: int) -> dict[str, Any]:
    """The schedule once it started `count` runs and their tasks are all listed."""

    async def probe() -> dict[str, Any] | None:
        schedule = await get(http, schedule_id)
        if schedule["num_actions"] < count:
            return None
        listed = await schedule_tasks(http, schedule_id)
        return schedule if len(listed) >= schedule["num_actions"] else None

    return await eventually(probe)


async def settle(http: httpx.AsyncClient, schedule_id: str) -> list[dict[str, Any]]:
    """Wait for the tasks of every run so far to end; returns them ended, newest first."""
    await runs_at_least(http, schedule_id, 0)
    return [await ended(http, task["id"]) for task in await schedule_tasks(http, schedule_id)]


# -- runs on time, pause, trigger, unpause, patch, delete --------------------------------------


async def test_interval_schedule_runs_tasks_and_obeys_pause_trigger_patch_delete(
    api: Api, settings: Settings, worker: Worker, fake_llm: FakeLLMServer, made: list[str]
) -> None:
    async with owner_client(api, settings) as http:
        model = script(fake_llm, "tick")
        created = await create(http, made, model, interval_seconds=2)
        schedule_id = created["id"]
        assert re.fullmatch(r"sch[0-9a-f]{12}", schedule_id)
        assert created["spec"]["interval_seconds"] == 2 and created["spec"]["cron"] is None
        assert created["state"] == {"paused": False, "note": None}
        assert (created["overlap"], created["catchup_window_seconds"]) == ("skip", 60)
        times = [datetime.fromisoformat(t) for t in created["next_run_times"]]
        assert len(times) == 5
        assert {b - a for a, b in itertools.pairwise(times)} == {timedelta(seconds=2)}

        # Fires on time: two runs within ~10 s, each a task of its own that succeeded.
        fired = await runs_at_least(http, schedule_id, 2)
        assert len(fired["recent_actions"]) >= 2
        done = await settle(http, schedule_id)
        assert {t["status"] for t in done} == {"succeeded"}
        assert all(t["output"] == {"answer": "tick"} for t in done)
        assert all(t["id"].startswith(f"sch-{schedule_id}-") for t in done)
        assert {a["task_id"] for a in fired["recent_actions"]} <= {t["id"] for t in done}
        # The rows say which schedule started them (runs keep coming meanwhile: a superset).
        stored = {r.id: r for r in await rows(settings, schedule_id)}
        assert set(stored) >= {t["id"] for t in done}
        assert {(r.schedule_id, r.agent, r.model) for r in stored.values()} == {
            (schedule_id, "assistant", model)
        }
        created_at = [t["created_at"] for t in done]
        assert created_at == sorted(created_at, reverse=True)

        # Paused: no further runs while the interval passes (the count, not a speed).
        paused = await http.post(f"/v1/schedules/{schedule_id}/pause", json={"note": "hold on"})
        assert paused.status_code == 200, paused.text
        assert paused.json()["state"] == {"paused": True, "note": "hold on"}
        before = len(await settle(http, schedule_id))
        await asyncio.sleep(4.5)
        assert (await get(http, schedule_id))["num_actions"] == before
        assert len(await settle(http, schedule_id)) == before

        # Trigger runs now, even while paused.
        triggered = await http.post(f"/v1/schedules/{schedule_id}/trigger")
        assert triggered.status_code == 202, triggered.text
        await runs_at_least(http, schedule_id, before + 1)
        assert len(await settle(http, schedule_id)) == before + 1

        # Unpaused: runs resume.
        resumed = await http.post(f"/v1/schedules/{schedule_id}/unpause")
        assert resumed.status_code == 200, resumed.text
        assert resumed.json()["state"]["paused"] is False
        await runs_at_least(http, schedule_id, before + 2)

        # PATCH the interval, the window and the note; the next runs follow them.
        tomorrow = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
        patched = await http.patch(
            f"/v1/schedules/{schedule_id}",
            json={"interval_seconds": 3600, "start_at": tomorrow.isoformat(), "note": "hourly"},
        )
        assert patched.status_code == 200, patched.text
        body = patched.json()
        assert body["spec"]["interval_seconds"] == 3600
        assert body["state"]["note"] == "hourly"
        assert body["updated_at"] is not None
        times = [datetime.fromisoformat(t) for t in body["next_run_times"]]
        assert times[0] >= tomorrow
        assert {b - a for a, b in itertools.pairwise(times)} == {timedelta(hours=1)}
        total = len(await settle(http, schedule_id))

        deleted = await http.delete(f"/v1/schedules/{schedule_id}")
        assert deleted.status_code == 204
        assert (await http.get(f"/v1/schedules/{schedule_id}")).status_code == 404
        assert (await http.delete(f"/v1/schedules/{schedule_id}")).status_code == 404
        # Its tasks stay listed after the schedule is gone.
        assert len(await schedule_tasks(http, schedule_id)) == total


# -- cron, time zone, window, listing, owners ---------------------------------------------------


async def test_cron_schedule_listing_patch_and_other_owners(
    api: Api, settings: Settings, made: list[str]
) -> None:
    start = datetime(2031, 1, 1, tzinfo=UTC)
    async with owner_client(api, settings) as http, owner_client(api, settings) as other:
        schedule_id = f"weekdays-{uuid.uuid4().hex[:8]}"
        created = await create(
            http,
            made,
            id=schedule_id,
            cron="0 9 * * 1-5",
            timezone="Africa/Johannesburg",
            start_at=start.isoformat(),
            end_at="2031-02-01T00:00:00",  # naive: UTC
            overlap="buffer_one",
            catchup_window_seconds=300,
            paused=True,
            note="not yet",
            max_steps=3,
        )
        assert created["id"] == schedule_id
        assert created["spec"] == {
            "cron": "0 9 * * 1-5",
            "interval_seconds": None,
            "offset_seconds": None,
            "timezone": "Africa/Johannesburg",
            "start_at": "2031-01-01T00:00:00Z",
            "end_at": "2031-02-01T00:00:00Z",
        }
        assert (created["overlap"], created["catchup_window_seconds"]) == ("buffer_one", 300)
        assert created["state"] == {"paused": True, "note": "not yet"}
        assert (created["max_steps"], created["input"]) == (3, {"prompt": "on schedule"})
        # 09:00 in Johannesburg (UTC+2) on weekdays from 2031-01-01 (a Wednesday).
        assert created["next_run_times"][:3] == [
            "2031-01-01T07:00:00Z",
            "2031-01-02T07:00:00Z",
            "2031-01-03T07:00:00Z",
        ]
        assert created["recent_actions"] == [] and created["num_actions"] == 0

        async def listed(client: httpx.AsyncClient) -> list[str] | None:
            response = await client.get("/v1/schedules")
            assert response.status_code == 200, response.text
            ids = [s["id"] for s in response.json()["items"]]
            return ids or None

        assert await eventually(lambda: listed(http)) == [schedule_id]
        assert await listed(other) is None

        # Another owner sees nothing of it.
        base = f"/v1/schedules/{schedule_id}"
        for method, path in [
            ("GET", base),
            ("PATCH", base),
            ("POST", f"{base}/pause"),
            ("POST", f"{base}/unpause"),
            ("POST", f"{base}/trigger"),
            ("GET", f"{base}/tasks"),
            ("DELETE", base),
        ]:
            body = {"note": "mine now"} if method == "PATCH" else None
            response = await other.request(method, path, json=body)
            assert response.status_code == 404, (method, path, response.text)
            assert response.json()["error"]["code"] == "not_found"
        assert (await http.get(f"{base}/tasks")).json() == {"items": [], "next_cursor": None}
        # Ids are global: taken is taken, whoever asks.
        for client in (http, other):
            again = await client.post(
                "/v1/schedules",
                json={"agent": "assistant", "input": {"prompt": "x"}, "id": schedule_id,
                      "interval_seconds": 60},
            )  # fmt: skip
            assert again.status_code == 409, again.text

        # PATCH: cron to interval with an offset, the input, and clearing the window.
        patched = await http.patch(
            base,
            json={
                "interval_seconds": 600,
                "offset_seconds": 30,
                "end_at": None,
                "input": {"prompt": "changed", "title": "T"},
            },
        )
        assert patched.status_code == 200, patched.text
        spec = patched.json()["spec"]
        assert (spec["cron"], spec["interval_seconds"], spec["offset_seconds"]) == (None, 600, 30)
        assert (spec["start_at"], spec["end_at"]) == ("2031-01-01T00:00:00Z", None)
        assert patched.json()["input"] == {"prompt": "changed", "title": "T"}
        assert patched.json()["state"] == {"paused": True, "note": "not yet"}
        assert (await get(http, schedule_id))["max_steps"] == 3

        bad = await http.patch(base, json={"input": {"title": "no prompt"}})
        assert bad.status_code == 422
        assert [d["field"] for d in bad.json()["error"]["details"]] == ["input.prompt"]
        bad = await http.patch(base, json={"cron": "0 * * * *", "interval_seconds": 5})
        assert bad.status_code == 422
        assert [d["field"] for d in bad.json()["error"]["details"]] == [
            "body.cron",
            "body.interval_seconds",
        ]
        bad = await http.patch(base, json={"offset_seconds": 600})
        assert bad.status_code == 422
        assert bad.json()["error"]["details"][0]["field"] == "body.offset_seconds"


# -- validation --------------------------------------------------------------------------------

INVALID = [
    ({"cron": "61 * * * *"}, "body.cron"),  # well-formed, but Temporal rejects it
    ({"cron": "every day"}, "body.cron"),
    ({"cron": "0 9 * * 1-5", "timezone": "Mars/Olympus_Mons"}, "body.timezone"),
    ({"cron": "0 9 * * *", "interval_seconds": 60}, "body.cron"),
    ({}, "body.cron"),
    ({"interval_seconds": 0}, "body.interval_seconds"),
    ({"interval_seconds": 60, "offset_seconds": 60}, "body.offset_seconds"),
    ({"cron": "0 9 * * *", "offset_seconds": 5}, "body.offset_seconds"),
    (
        {"interval_seconds": 60, "start_at": "2031-01-02T00:00:00Z", "end_at": "2031-01-01T00:00Z"},
        "body.end_at",
    ),
    ({"interval_seconds": 60, "input": {"title": "no prompt"}}, "input.prompt"),
    ({"interval_seconds": 60, "input": {"prompt": "p", "extra": 1}}, "input.extra"),
    ({"interval_seconds": 60, "overlap": "sometimes"}, "body.overlap"),
    ({"interval_seconds": 60, "catchup_window_seconds": 5}, "body.catchup_window_seconds"),
    ({"interval_seconds": 60, "id": "Has_Capitals"}, "body.id"),
    ({"interval_seconds": 60, "id": "x" * 25}, "body.id"),
]


async def test_every_problem_of_a_schedule_is_reported_at_once(
    api: Api, settings: Settings
) -> None:
    bad_timing = {"cron": "61 25 * 13 *", "timezone": "Mars/Olympus_Mons"}
    async with owner_client(api, settings) as http:
        body = {"agent": "assistant", "input": {"title": "no prompt"}, **bad_timing}
        response = await http.post("/v1/schedules", json=body)
        details = assert_fields(response, "body.cron", "body.timezone", "input.prompt")
        cron = next(d["message"] for d in details if d["field"] == "body.cron")
        assert cron == "minute '61': 61 is outside 0-59", details
        created = await http.post(
            "/v1/schedules",
            json={"agent": "assistant", "input": {"prompt": "p"}, "cron": "*/15 9-17 * * 1-5"},
        )
        assert created.status_code == 201, created.text
        patched = await http.patch(
            f"/v1/schedules/{created.json()['id']}",
            json={**bad_timing, "input": {"prompt": "p", "extra": 1}},
        )
        assert_fields(patched, "body.cron", "body.timezone", "input.extra")
        assert_fields(
            await http.patch(f"/v1/schedules/{created.json()['id']}", json=bad_timing),
            "body.cron",
            "body.timezone",
        )


async def test_invalid_schedules_are_422_naming_the_field(api: Api, settings: Settings) -> None:
    async with owner_client(api, settings) as http:
        for fields, field in INVALID:
            body = {"agent": "assistant", "input": {"prompt": "p"}, **fields}
            response = await http.post("/v1/schedules", json=body)
            assert response.status_code == 422, (fields, response.text)
            error = response.json()["error"]
            assert error["code"] == "invalid_input"
            assert field in [d["field"] for d in error["details"]], (fields, error)
            assert field in error["message"]
        unknown = await http.post(
            "/v1/schedules",
            json={"agent": "nobody", "input": {"prompt": "p"}, "interval_seconds": 60},
        )
        assert unknown.status_code == 404
        assert (await http.get("/v1/schedules")).json() == {"items": []}
        assert (await http.get("/v1/schedules/NOT-an-id")).status_code == 404
        assert (await http.get("/v1/schedules/sch000000000000")).status_code == 404


async def test_temporal_down_is_503(settings: Settings) -> None:
    down = settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}"})
    key = await new_api_key(down)
    async with running_api(down) as url, httpx.AsyncClient(base_url=url, timeout=60) as http:
        http.headers["Authorization"] = f"Bearer {key}"
        body = {"agent": "assistant", "input": {"prompt": "p"}, "interval_seconds": 60}
        created = await http.post("/v1/schedules", json=body)
        assert created.status_code == 503, created.text
        assert created.json()["error"]["code"] == "unavailable"
        assert (await http.get("/v1/schedules")).status_code == 503


# -- CLI ---------------------------------------------------------------------------------------


async def cape(url: str, key: str, *args: str) -> tuple[int, str]:
    """Run `python -m cli schedules <command> --api-url ... <args>` as a real process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPE_API")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli", "schedules", args[0], "--api-url", url,
        "--api-key", key, *args[1:],
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_cli_create_ls_show_trigger_tasks_rm(
    api: Api, settings: Settings, worker: Worker, fake_llm: FakeLLMServer, made: list[str]
) -> None:
    key = await new_api_key(settings, owner=f"cli-{uuid.uuid4().hex[:8]}")
    model = script(fake_llm, "from the cli")
    code, out = await cape(
        api.url, key, "create", "scheduled hello", "--cron", "30 6 * * *",
        "--timezone", "UTC", "--paused", "--note", "manual only", "--model", model,
    )  # fmt: skip
    assert code == 0, out
    schedule_id = out.strip()
    made.append(schedule_id)
    assert re.fullmatch(r"sch[0-9a-f]{12}", schedule_id), out

    async def listed() -> str | None:
        code, out = await cape(api.url, key, "ls")
        assert code == 0, out
        return out if schedule_id in out else None

    table = (await eventually(listed, timeout=15)).splitlines()
    assert table[0].split() == ["ID", "AGENT", "WHEN", "STATE", "NEXT", "RUN", "RUNS", "PROMPT"]
    assert table[1].startswith(schedule_id)
    assert 'cron "30 6 * * *" (UTC)' in table[1] and "paused" in table[1]

    code, out = await cape(api.url, key, "show", schedule_id)
    assert code == 0, out
    assert "state:    paused (manual only)" in out and "prompt:   scheduled hello" in out

    code, out = await cape(api.url, key, "trigger", schedule_id)
    assert (code, out.strip()) == (0, f"triggered {schedule_id}")

    async def task_listed() -> dict[str, Any] | None:
        code, out = await cape(api.url, key, "tasks", schedule_id, "--json")
        assert code == 0, out
        items: list[dict[str, Any]] = json.loads(out)["items"]
        return items[0] if items else None

    task = await eventually(task_listed, timeout=20)
    assert task["id"].startswith(f"sch-{schedule_id}-")
    code, out = await cape(api.url, key, "tasks", schedule_id)
    assert code == 0 and task["id"] in out, out

    code, out = await cape(api.url, key, "rm", schedule_id)
    assert (code, out.strip()) == (0, f"deleted {schedule_id}")
    code, out = await cape(api.url, key, "show", schedule_id)
    assert code == 1 and "not_found" in out, out
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=30) as http:
        assert (await ended(http, task["id"]))["status"] == "succeeded"


async def test_a_schedule_stored_with_a_lone_surrogate_still_lists(
    api: Api, settings: Settings, made: list[str], client: Client
) -> None:
    """A schedule written before input was checked (a lone surrogate in it) breaks no listing."""
    async with owner_client(api, settings) as http:
        created = await create(http, made, cron="0 9 * * 1-5", paused=True)
        handle = client.get_schedule_handle(created["id"])
        desc = await handle.describe()
        action = desc.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        [inp] = await client.data_converter.decode(list(action.args), [AgentTaskInput])
        assert isinstance(inp, AgentTaskInput) and inp.registration is not None
        bad = {"prompt": "broken \ud800 text"}
        stored = replace(inp, registration=replace(inp.registration, input=bad))

        def rewrite(update: ScheduleUpdateInput) -> ScheduleUpdate:
            schedule = update.description.schedule
            assert isinstance(schedule.action, ScheduleActionStartWorkflow)
            schedule.action.args = [stored]
            return ScheduleUpdate(schedule=schedule)

        await handle.update(rewrite)
        listed = await http.get("/v1/schedules")
        assert listed.status_code == 200, listed.text
        [shown] = [s for s in listed.json()["items"] if s["id"] == created["id"]]
        assert shown["input"] == {"prompt": "broken \ufffd text"}
        assert (await get(http, created["id"]))["input"] == {"prompt": "broken \ufffd text"}
