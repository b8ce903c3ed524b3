"""Resuming the SSE stream: `Last-Event-ID` / `?since=` give exactly the events after N.

While the task runs, after it ended, and across a restart of the API process (SIGTERM and
SIGKILL): what a client received before plus what it gets after resuming is every stored event
exactly once, in order, then `end`. Idle streams carry `: ping` keep-alives.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from cape.db.engine import create_engine
from cape.db.models import TaskEvent
from cape.llm.providers import Providers
from cape.settings import Settings
from cli.processes import API_SHUTDOWN_GRACE_SECONDS
from cli.testing.fake_llm import FakeLLMServer, Script, ScriptedToolCall, Turn, create_app
from tests.conftest import Api
from tests.harness import (
    free_port,
    iter_sse,
    log_tail,
    new_api_key,
    paced,
    read_sse,
    serving,
    spawn,
    stop_process,
    stored,
    wait_http,
    wait_until,
)
from worker.main import build_worker

LIMIT = 60.0


def slow_script(name: str, delay: float) -> Script:
    """LLM (after `delay`) -> write_file -> LLM answer (after `delay`)."""
    call = ScriptedToolCall(name="write_file", arguments={"path": "out.txt", "content": name})
    return Script(
        name=name,
        turns=[
            Turn(content="Writing out.txt.", tool_calls=[call], delay_seconds=delay),
            Turn(content=f"Wrote out.txt for {name}.", delay_seconds=delay),
        ],
    )


async def start_task(http: httpx.AsyncClient, fake_llm: FakeLLMServer, delay: float) -> str:
    name = f"resume-{uuid.uuid4().hex[:8]}"
    fake_llm.add_script(slow_script(name, delay))
    return await start_named_task(http, name)


async def start_named_task(http: httpx.AsyncClient, name: str) -> str:
    created = await http.post(
        "/v1/tasks",
        json={"agent": "assistant", "input": {"prompt": "write"}, "model": f"script:{name}"},
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def data_of(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The event messages (with an `id`), without `retry:`, pings and control events."""
    return [m for m in messages if "id" in m]


def assert_events(messages: list[dict[str, Any]], events: list[TaskEvent]) -> None:
    """`messages` carry exactly `events`, in order: ids, channels, types and data."""
    data = data_of(messages)
    assert [int(m["id"]) for m in data] == [e.seq for e in events]
    assert [m["data"]["seq"] for m in data] == [e.seq for e in events]
    assert [(m["event"], m["data"]["type"]) for m in data] == [(e.channel, e.type) for e in events]
    assert [m["data"]["data"] for m in data] == [e.data for e in events]


def assert_end(messages: list[dict[str, Any]], last_seq: int) -> None:
    assert messages[-1]["event"] == "end", messages[-1]
    assert messages[-1]["data"]["data"] == {"status": "succeeded", "last_seq": last_seq}
    assert [m.get("event") for m in messages].count("end") == 1


async def read_until(
    http: httpx.AsyncClient, url: str, into: list[dict[str, Any]], stop: str
) -> None:
    """Append messages of the stream to `into` until one has type `stop` (or the API goes)."""
    with contextlib.suppress(httpx.TransportError):  # the API process went away
        async for message in iter_sse(http, url):
            into.append(message)
            if message.get("data", {}).get("type") == stop or message.get("event") == "end":
                return


def is_step_started(message: dict[str, Any], step_no: int) -> bool:
    data = message.get("data", {})
    return bool(data.get("type") == "step-started" and data.get("step_id") == str(step_no))


async def test_resume_while_the_task_runs(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    task_id = await start_task(api.http, fake_llm, delay=1.5)
    url = f"/v1/tasks/{task_id}/events"

    first: list[dict[str, Any]] = []
    async with asyncio.timeout(LIMIT):
        async for message in iter_sse(api.http, url):
            first.append(message)
            if is_step_started(message, 2):  # the first LLM turn is waiting on its delay
                break
    last = int(data_of(first)[-1]["id"])
    running = (await api.http.get(f"/v1/tasks/{task_id}")).json()
    assert running["status"] == "running", running

    # Both spellings of the resume point, while the task still runs.
    by_header, by_query = await asyncio.gather(
        read_sse(api.http, url, headers={"Last-Event-ID": str(last)}, limit=LIMIT),
        read_sse(api.http, f"{url}?since={last}", limit=LIMIT),
    )
    _, events = await stored(settings, task_id)
    assert len(events) > last + 5
    assert_events(first, events[:last])
    assert_events(by_header, events[last:])
    assert_events(by_query, events[last:])
    assert_end(by_header, len(events))
    assert_end(by_query, len(events))


async def test_resume_after_the_task_ended(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    task_id = await start_task(api.http, fake_llm, delay=0)
    url = f"/v1/tasks/{task_id}/events"
    whole = await read_sse(api.http, url, limit=LIMIT)
    _, events = await stored(settings, task_id)
    total = len(events)
    assert_events(whole, events)
    assert_end(whole, total)

    for after in (0, 1, total // 2, total - 1, total, total + 10):
        by_header = await read_sse(api.http, url, headers={"Last-Event-ID": str(after)})
        by_query = await read_sse(api.http, f"{url}?since={after}")
        assert_events(by_header, events[after:])
        assert_events(by_query, events[after:])
        assert_end(by_header, total)
        assert_end(by_query, total)
    # A browser's EventSource reconnects to the same URL plus the header: the header wins.
    both = await read_sse(api.http, f"{url}?since=1", headers={"Last-Event-ID": str(total - 2)})
    assert_events(both, events[total - 2 :])


async def test_stream_sends_pings_while_the_llm_is_slow(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    delay = settings.sse_ping_seconds * 2.5
    task_id = await start_task(api.http, fake_llm, delay=delay)
    messages = await read_sse(api.http, f"/v1/tasks/{task_id}/events", limit=LIMIT)
    _, events = await stored(settings, task_id)
    assert_events(messages, events)
    assert_end(messages, len(events))

    # Between step 2's step-started and its next event the LLM is silent for `delay` seconds.
    start = next(i for i, m in enumerate(messages) if is_step_started(m, 2))
    following = next(i for i in range(start + 1, len(messages)) if "id" in messages[i])
    pings = [m for m in messages[start + 1 : following] if m.get("comments") == [": ping"]]
    assert len(pings) >= 1, messages[start : following + 1]
    assert all(set(m) == {"comments"} for m in pings)  # a ping is a comment, never an event


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_resume_across_an_api_restart(
    worker: Worker, fake_llm: FakeLLMServer, settings: Settings, tmp_path: Path, sig: int
) -> None:
    api_settings = settings.model_copy(update={"api_port": free_port()})
    base = f"http://127.0.0.1:{api_settings.api_port}"
    log = tmp_path / "api.log"
    headers = {"Authorization": f"Bearer {await new_api_key(settings)}"}
    procs = [spawn("api", api_settings, log)]
    try:
        await wait_http(f"{base}/healthz", LIMIT)
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as http:
            # Each LLM turn waits 4 s: the task outlives the API's stop (at most its 5 s grace).
            task_id = await start_task(http, fake_llm, delay=4.0)
            url = f"/v1/tasks/{task_id}/events"

            # A client follows the stream; the API process stops under it mid-task.
            before: list[dict[str, Any]] = []
            reader = asyncio.create_task(read_until(http, url, before, stop="task-succeeded"))
            await wait_until(
                lambda: asyncio.sleep(0, any(is_step_started(m, 2) for m in before)),
                "the first LLM turn to start",
                LIMIT,
            )
            stopping = time.monotonic()
            code = await asyncio.to_thread(stop_process, procs[0], sig, LIMIT)
            assert code == (0 if sig == signal.SIGTERM else -signal.SIGKILL), log_tail(log)
            # Open streams do not hold a stopping API up beyond its grace period.
            assert time.monotonic() - stopping < API_SHUTDOWN_GRACE_SECONDS + 3
            async with asyncio.timeout(LIMIT):
                await reader
            assert "task-succeeded" not in [m.get("data", {}).get("type") for m in before]

            # A new API process on the same port; the client resumes where it was.
            procs.append(spawn("api", api_settings, log))
            await wait_http(f"{base}/healthz", LIMIT)
            last = data_of(before)[-1]["id"]
            after = await read_sse(http, url, headers={"Last-Event-ID": last}, limit=LIMIT)
            again = await read_sse(http, f"{url}?since={last}", limit=LIMIT)

        _, events = await stored(settings, task_id)
        assert_events(before + after, events)
        assert_end(after, len(events))
        assert data_of(again) == data_of(after)
    except BaseException:
        print(log_tail(log))
        raise
    finally:
        for proc in procs:
            stop_process(proc)


async def test_stream_of_a_task_canceled_mid_stream_delivers_every_event(
    api: Api, client: Client, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    # The LLM streams a chunk every 0.1 s: token deltas are being written when the cancel comes.
    name = f"cancel-{uuid.uuid4().hex[:8]}"
    fake_llm.add_script(Script(name=name, turns=[Turn(content="word " * 80)]))
    async with serving(paced(create_app(fake_llm.registry), 0.1)) as url:
        slow = settings.model_copy(update={"openai_base_url": f"{url}/v1"})
        engine = create_engine(slow)
        provider = Providers(slow)
        try:
            async with build_worker(client, slow, engine, provider):
                task_id = await start_named_task(api.http, name)
                url = f"/v1/tasks/{task_id}/events"
                seen: list[dict[str, Any]] = []
                reader = asyncio.create_task(read_until(api.http, url, seen, stop="end"))
                await wait_until(
                    lambda: asyncio.sleep(0, any(m.get("event") == "messages" for m in seen)),
                    "the first token delta",
                )
                canceled = await api.http.post(f"/v1/tasks/{task_id}/cancel")
                assert canceled.status_code == 202, canceled.text
                async with asyncio.timeout(LIMIT):
                    await reader
                # Give a step that outlived the task time to write (it must not).
                await asyncio.sleep(settings.heartbeat_timeout_seconds)
        finally:
            await provider.aclose()
            await engine.dispose()

    steps, events = await stored(settings, task_id)
    assert events[-1].type == "task-canceled", [e.type for e in events]
    assert [s.status for s in steps] == ["succeeded", "canceled"]
    assert_events(seen, events)
    assert seen[-1]["event"] == "end"
    assert seen[-1]["data"]["data"] == {"status": "canceled", "last_seq": len(events)}
