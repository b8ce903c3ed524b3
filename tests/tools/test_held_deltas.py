"""`HeldDeltas`: a step's output events written in batches, or with the step's end."""

from __future__ import annotations

import asyncio
from typing import Any

from activities.tools.stream import HeldDeltas


def held(
    batches: list[list[dict[str, Any]]], hold: float
) -> tuple[HeldDeltas, asyncio.Event, asyncio.Event]:
    writing, written = asyncio.Event(), asyncio.Event()

    async def write(batch: list[dict[str, Any]]) -> None:
        writing.set()
        await asyncio.sleep(0.01)  # a transaction takes a while: events may arrive meanwhile
        batches.append(batch)
        written.set()

    return HeldDeltas(write, hold), writing, written


async def test_what_the_step_ends_with_is_taken_not_written() -> None:
    batches: list[list[dict[str, Any]]] = []
    deltas, _, _ = held(batches, hold=60)
    for n in range(3):
        await deltas.add({"text": str(n)})
    assert await deltas.take() == [{"text": "0"}, {"text": "1"}, {"text": "2"}]
    assert batches == []
    assert await deltas.take() == []


async def test_held_events_are_written_together_once_the_hold_is_over() -> None:
    batches: list[list[dict[str, Any]]] = []
    deltas, _, written = held(batches, hold=0)
    await deltas.add({"text": "a"})
    await deltas.add({"text": "b"})
    await written.wait()
    await deltas.add({"text": "c"})  # a new batch
    assert await deltas.take() in ([{"text": "c"}], [])
    texts = [d["text"] for batch in batches for d in batch]
    assert batches[0] == [{"text": "a"}, {"text": "b"}]
    assert texts in (["a", "b"], ["a", "b", "c"])


async def test_take_waits_for_a_write_under_way_and_keeps_the_order() -> None:
    batches: list[list[dict[str, Any]]] = []
    deltas, writing, _ = held(batches, hold=0)
    await deltas.add({"text": "a"})
    await writing.wait()
    await deltas.add({"text": "b"})  # arrives while "a" is being written
    rest = await deltas.take()
    assert batches == [[{"text": "a"}]]  # written before take returned
    assert rest == [{"text": "b"}]


async def test_cancel_drops_what_is_held() -> None:
    batches: list[list[dict[str, Any]]] = []
    deltas, _, _ = held(batches, hold=0.05)
    await deltas.add({"text": "a"})
    deltas.cancel()
    await asyncio.sleep(0.1)
    assert batches == []
