"""Bounds on the output a tool step streams into the task's event log (`tool-output-delta`).

Every event is a row of the app database that SSE replays to every reader, so what is bounded
is the stored size: the event's data as JSON, where escaping makes binary output up to 6 times
larger (12 for characters outside the BMP). One event stays under `tool_stream_event_bytes` (a
larger flush is split), one step stores at most `tool_stream_step_bytes` and one task
`tool_stream_task_bytes` over all its steps. At a cap one last event (`"truncated": true`)
says the stream stopped; the step's log artifact still has the output (up to 64 MiB).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Text, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cape.db.models import TaskEvent
from cape.domain import EventType
from cape.settings import Settings

Sink = Callable[[dict[str, Any]], Awaitable[None]]
# Room kept for the closing notice, so it fits under the caps too.
NOTICE_ROOM = 512
# Bytes stored by the streams running in this process, per task: parallel tool calls of one
# turn share the task's budget (their steps run on the workspace's host, this worker).
_live: Counter[str] = Counter()


def stored_size(data: dict[str, Any]) -> int:
    """The bytes `data` takes in the database (the engine stores `json.dumps` of it)."""
    return len(json.dumps(data))


def _fit(text: str, room: int) -> int:
    """How many leading characters of `text` fit in `room` bytes of JSON string content."""
    count = min(len(text), room)
    while count > 0:
        size = len(json.dumps(text[:count])) - 2
        if size <= room:
            return count
        count = min(count - 1, count * room // size)
    return 0


async def stored_stream_bytes(sessions: async_sessionmaker[AsyncSession], task_id: str) -> int:
    """The stored size of the task's `tool-output-delta` events so far."""
    size = func.coalesce(func.sum(func.length(cast(TaskEvent.data, Text))), 0)
    query = select(size).where(
        TaskEvent.task_id == task_id, TaskEvent.type == EventType.TOOL_OUTPUT_DELTA
    )
    async with sessions() as session:
        return int(await session.scalar(query) or 0)


class OutputStream:
    """The `emit_output` of one tool step: splits, counts and stops its `tool-output-delta`s."""

    def __init__(
        self,
        settings: Settings,
        task_id: str,
        base: dict[str, Any],
        sink: Sink,
        task_used: Callable[[], Awaitable[int]],
    ) -> None:
        """A stream storing through `sink`.

        Args:
            settings: The `tool_stream_*` caps.
            task_id: The task whose budget it spends.
            base: The data every event carries (call id, attempt).
            sink: Stores one event's data.
            task_used: Counts the task's stored stream bytes before this step (asked once, at
                the first output: most tool steps print nothing).
        """
        self.task_id = task_id
        self.base = base
        self.sink = sink
        self.event_bytes = settings.tool_stream_event_bytes
        self.step_bytes = settings.tool_stream_step_bytes
        self.task_bytes = settings.tool_stream_task_bytes
        self.task_used = task_used
        self.task_before: int | None = None
        self.used = 0
        self.stopped = False
        self.overhead = stored_size({**base, "text": ""})

    def _left(self) -> int:
        """Bytes this step may still store (step and task caps, the task's live streams)."""
        task_left = self.task_bytes - (self.task_before or 0) - _live[self.task_id]
        return min(self.step_bytes - self.used, task_left)

    async def _send(self, data: dict[str, Any]) -> None:
        size = stored_size(data)
        self.used += size
        _live[self.task_id] += size
        await self.sink(data)

    async def __call__(self, text: str) -> None:
        """Store `text` as one or more events, as far as the caps allow."""
        if self.task_before is None:
            self.task_before = await self.task_used()
        while text and not self.stopped:
            room = min(self.event_bytes, self._left() - NOTICE_ROOM) - self.overhead
            count = _fit(text, room) if room > 0 else 0
            if count == 0:
                await self._stop()
                return
            await self._send({**self.base, "text": text[:count]})
            text = text[count:]

    async def _stop(self) -> None:
        self.stopped = True
        which = "step" if self.step_bytes - self.used <= self._left() else "task"
        cap = self.step_bytes if which == "step" else self.task_bytes
        notice = {
            **self.base,
            "text": f"\n[... streamed output stopped: the {which}'s limit of {cap} stored bytes "
            "was reached; the step's log artifact has the output ...]\n",
            "truncated": True,
        }
        if stored_size(notice) <= self._left():
            await self._send(notice)

    def close(self) -> None:
        """The step is over: its events are in the database, counted by the next step's query."""
        _live[self.task_id] -= self.used
        if _live[self.task_id] <= 0:
            del _live[self.task_id]


class HeldDeltas:
    """A step's `tool-output-delta`s, held briefly so several go in one transaction.

    Output that arrives within `hold` seconds of the first pending delta is written together;
    what is pending when the step ends goes into the step's closing transaction (`take`), so a
    quick command's output costs no transaction of its own.
    """

    def __init__(self, write: Callable[[list[dict[str, Any]]], Awaitable[None]], hold: float):
        self.write = write
        self.hold = hold
        self.pending: list[dict[str, Any]] = []
        self.timer: asyncio.Task[None] | None = None
        self.writing = False

    async def add(self, data: dict[str, Any]) -> None:
        """Hold one delta's data; the timer writes it unless the step ends first."""
        self.pending.append(data)
        if self.timer is None:
            self.timer = asyncio.create_task(self._later())

    async def _later(self) -> None:
        await asyncio.sleep(self.hold)
        # No await before the swap: `take` relies on `writing` to know the batch left.
        self.writing = True
        batch, self.pending = self.pending, []
        try:
            await self.write(batch)
        finally:
            self.writing, self.timer = False, None

    async def take(self) -> list[dict[str, Any]]:
        """End holding: wait for a write under way; the deltas not written, in order."""
        timer = self.timer
        if timer is not None:
            if self.writing:
                await timer
            else:
                self.cancel()
        batch, self.pending = self.pending, []
        return batch

    def cancel(self) -> None:
        """Drop what is held (the step failed: its log artifact keeps the output)."""
        if self.timer is not None and not self.writing:
            self.timer.cancel()
            self.timer = None


class StepStreams:
    """What one tool step streams: its held deltas, and what to do once they are stored."""

    def __init__(
        self, write: Callable[[list[dict[str, Any]]], Awaitable[None]], again: bool, hold: float
    ) -> None:
        self.deltas = HeldDeltas(write, hold)
        self.closing: list[Callable[[], None]] = []
        self.again = again  # an earlier execution of the step did not finish

    def close(self) -> None:
        """The step is over (its closing transaction written, or failed)."""
        self.deltas.cancel()
        for done in self.closing:
            done()
