"""One task cannot flood storage with its output (issue 11, class 4).

The canary is the database itself: the test sums the stored size of the task's events (SQL
`length` of their JSON) and reads its SSE stream to the end, after steps that print `yes` for
seconds and megabytes of /dev/urandom (JSON-escaped, 6 times its size).
"""

from __future__ import annotations

from collections import defaultdict

import httpx
import pytest
from sqlalchemy import Text, cast, func, select
from temporalio.worker import Worker

from cape.db.engine import create_engine, session_factory
from cape.db.models import TaskEvent
from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Turn
from tests.conftest import Api
from tests.e2e.tooling import call, events_of, pretty, run_task

EVENT, STEP, TASK = 16 * 1024, 200_000, 500_000
FLOODS = [
    "timeout 3 yes cape-flood; echo done",
    "head -c 5000000 /dev/urandom; echo done",
    "timeout 3 yes cape-flood-again; echo done",
]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    limits = {
        "tool_stream_event_bytes": EVENT,
        "tool_stream_step_bytes": STEP,
        "tool_stream_task_bytes": TASK,
        # The product's default: the suite's 2 s is shorter than a flooded step's heartbeat gap
        # on a loaded machine, and a retried step would rewind and re-stream its output.
        "heartbeat_timeout_seconds": 10.0,
    }
    return settings.model_copy(update=limits)


async def stored_sizes(settings: Settings, task_id: str) -> list[tuple[int | None, str, int]]:
    """(step, type, stored bytes) of each of the task's events, as the database measures them."""
    engine = create_engine(settings)
    try:
        async with session_factory(engine)() as session:
            rows = await session.execute(
                select(TaskEvent.step_no, TaskEvent.type, func.length(cast(TaskEvent.data, Text)))
                .where(TaskEvent.task_id == task_id)
                .order_by(TaskEvent.seq)
            )
            return [(step, kind, int(size)) for step, kind, size in rows]
    finally:
        await engine.dispose()


async def sse_bytes(api: Api, task_id: str) -> int:
    """Every byte of the task's SSE stream, replayed from the start to its `end` event."""
    total, tail = 0, b""
    async with httpx.AsyncClient(base_url=api.url, timeout=60) as http:
        headers = {"Authorization": f"Bearer {api.key}"}
        async with http.stream("GET", f"/v1/tasks/{task_id}/events", headers=headers) as reply:
            async for chunk in reply.aiter_bytes():
                total += len(chunk)
                tail = (tail + chunk)[-4096:]
                if b"event: end" in tail:
                    return total
    return total


async def test_flooding_output_stays_under_the_stored_limits(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    turns = [Turn(tool_calls=[call("shell", command=command)]) for command in FLOODS]
    task = await run_task(api, fake_llm, [*turns, Turn(content="flooded")], timeout=180)
    assert task["status"] == "succeeded", pretty(task)

    sizes = await stored_sizes(settings, task["id"])
    deltas = [(step, size) for step, kind, size in sizes if kind == "tool-output-delta"]
    per_step: dict[int | None, int] = defaultdict(int)
    for step, size in deltas:
        per_step[step] += size
    assert len(per_step) == len(FLOODS), per_step
    assert sum(per_step.values()) <= TASK, per_step
    assert all(total <= STEP for total in per_step.values()), per_step
    assert max(size for _, size in deltas) <= EVENT
    # Other events (results, steps) are small: the whole log stays near the stream limit.
    assert sum(size for _, _, size in sizes) <= TASK + 200_000
    assert await sse_bytes(api, task["id"]) <= TASK + 300_000

    # Each step says where its stream stopped; the log artifacts kept more than was streamed.
    events = await events_of(settings, task["id"], "tool-output-delta")
    notices = [e for e in events if e.data.get("truncated")]
    assert {e.step_no for e in notices} >= {min(per_step), sorted(per_step)[1]}, pretty(
        [e.data for e in notices]
    )
    assert "limit of" in notices[0].data["text"]
    listed = (await api.http.get(f"/v1/tasks/{task['id']}/artifacts")).json()
    items = listed["items"] if isinstance(listed, dict) else listed
    logs = [a for a in items if str(a["name"]).endswith("-shell.log")]
    assert len(logs) == len(FLOODS) and all(a["size"] > STEP for a in logs), pretty(logs)
