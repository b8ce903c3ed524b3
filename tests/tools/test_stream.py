"""`OutputStream`: streamed tool output bounded in stored (JSON) bytes per event, step and task."""

from __future__ import annotations

import json
import uuid
from typing import Any

from activities.tools.stream import OutputStream, stored_size
from cape.settings import Settings

SETTINGS = Settings(
    tool_stream_event_bytes=2048, tool_stream_step_bytes=20_000, tool_stream_task_bytes=50_000
)


def stream(stored: list[dict[str, Any]], task_id: str, task_used: int = 0) -> OutputStream:
    async def sink(data: dict[str, Any]) -> None:
        stored.append(data)

    async def count() -> int:
        return task_used

    return OutputStream(SETTINGS, task_id, {"id": "call_1", "attempt": 1}, sink, count)


async def test_text_is_split_into_events_under_the_cap_and_kept_whole_below_the_step_cap() -> None:
    stored: list[dict[str, Any]] = []
    out = stream(stored, uuid.uuid4().hex)
    text = "é\x00\U0001f600<>" * 500  # escaped up to 12 bytes a character
    await out(text)
    out.close()
    assert all(stored_size(d) <= 2048 for d in stored)
    assert "".join(d["text"] for d in stored) == text
    assert not any(d.get("truncated") for d in stored)


async def test_the_step_cap_stops_the_stream_with_one_notice() -> None:
    stored: list[dict[str, Any]] = []
    out = stream(stored, uuid.uuid4().hex)
    for _ in range(100):
        await out("\ufffd" * 1000)  # what undecodable bytes become: 6 stored bytes each
    out.close()
    assert sum(stored_size(d) for d in stored) <= 20_000
    assert [d for d in stored if d.get("truncated")] == stored[-1:]
    assert "step's limit of 20000 stored bytes" in stored[-1]["text"]
    assert json.loads(json.dumps(stored[-1]))["truncated"] is True


async def test_parallel_streams_and_earlier_steps_share_the_task_cap() -> None:
    task_id = uuid.uuid4().hex
    stored: list[dict[str, Any]] = []
    first, second = stream(stored, task_id, 25_000), stream(stored, task_id, 25_000)
    for _ in range(50):
        await first("x" * 1000)
        await second("y" * 1000)
    first.close()
    second.close()
    assert 25_000 + sum(stored_size(d) for d in stored) <= 50_000
    assert any("task's limit of 50000" in d["text"] for d in stored if d.get("truncated"))
    # Once closed, a step's bytes are counted from the database, no longer in the process.
    again: list[dict[str, Any]] = []
    later = stream(again, task_id, 0)
    await later("z" * 100)
    assert again[0]["text"] == "z" * 100
