"""Load: closed-loop clients for Cape tasks and bare workflows, and SSE latency probes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from temporalio.client import Client, WorkflowFailureError

from bench.bare import WORKFLOW_NAME
from bench.stack import BenchError
from cape.domain import TaskStatus
from cli.testing.scripts import Script, ScriptedToolCall, Turn

# The agent loop of one Cape task: workspace, LLM (asks for `shell echo ok`), the shell tool in
# the sandbox, LLM (answers); then finish_task records the outcome.
CAPE_ACTIVITIES = 5
CAPE_STEPS = 4
# The shape, "workspace + LLM + sandboxed tool", is 3 steps; the real loop cannot stop
# after a tool call without failing the task, so the bare baseline runs 3 (as asked) and 5.
BARE_SHAPES = (3, CAPE_ACTIVITIES)
CAPE_AGENT = "engineer"  # has the sandboxed `shell` tool
SHELL_SCRIPT = Script(
    name="bench-shell",
    turns=[
        Turn(tool_calls=[ScriptedToolCall(name="shell", arguments={"command": "echo ok"})]),
        Turn(content="Done: the command printed ok."),
    ],
)


@dataclass
class SseStats:
    ms: list[float] = field(default_factory=list)  # step-finished: client receipt - event ts
    by_step: dict[str, list[float]] = field(default_factory=dict)  # the same, by step kind
    backlog: int = 0  # step-finished events written before the stream opened (not counted)
    streams: int = 0


@dataclass
class Round:
    kind: str
    activities: int
    n: int
    wall: float
    latencies: list[float]
    failures: list[str] = field(default_factory=list)
    sse: SseStats | None = None
    breakdown: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds used during the round

    @property
    def rate(self) -> float:
        return self.n / self.wall

    @property
    def activity_rate(self) -> float:
        return self.rate * self.activities


async def closed_loop(n: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> float:
    """Run `one(i)` for i in range(n) with `concurrency` clients; returns the wall time."""
    next_i = 0

    async def client() -> None:
        nonlocal next_i
        while next_i < n:
            i, next_i = next_i, next_i + 1
            await one(i)

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(min(concurrency, n))))
    return time.perf_counter() - start


def event_time(ts: str) -> float:
    stamp = datetime.fromisoformat(ts)
    if stamp.tzinfo is None:  # SQLite returns naive datetimes; the app writes UTC
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


async def follow_sse(http: httpx.AsyncClient, task_id: str, stats: SseStats) -> None:
    """Read the task's SSE stream to `end`; time every live `step-finished` event."""
    async with http.stream("GET", f"/v1/tasks/{task_id}/events", timeout=300) as response:
        if response.status_code != 200:
            raise BenchError(f"SSE {task_id}: {response.status_code} {await response.aread()!r}")
        opened = time.time()
        stats.streams += 1
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            received = time.time()
            event = json.loads(line[5:])
            if event.get("type") == "end":
                return
            if event.get("type") != "step-finished":
                continue
            written = event_time(event["ts"])
            if written < opened:
                stats.backlog += 1
            else:
                stats.ms.append((received - written) * 1000)
                kind = str(event.get("data", {}).get("name", "?")).split(":")[0]
                stats.by_step.setdefault(kind, []).append(stats.ms[-1])


async def cape_round(
    http: httpx.AsyncClient,
    client: Client,
    n: int,
    concurrency: int,
    sse_every: int,
    await_via: str,
    tag: str,
) -> tuple[Round, list[str]]:
    """N tasks through POST /v1/tasks, each awaited as `await_via` says (see --await-via)."""
    latencies: list[float] = []
    failures: list[str] = []
    ids: list[str] = []
    stats = SseStats()
    streams: list[asyncio.Task[None]] = []

    async def one(i: int) -> None:
        start = time.perf_counter()
        body = {
            "agent": CAPE_AGENT,
            "input": {"prompt": f"{tag} task {i}"},
            "model": f"script:{SHELL_SCRIPT.name}",
        }
        created = await http.post("/v1/tasks", json=body)
        if created.status_code != 201:
            raise BenchError(f"POST /v1/tasks: {created.status_code} {created.text}")
        task_id = created.json()["id"]
        ids.append(task_id)
        sampled = sse_every > 0 and i % sse_every == 0
        stream = asyncio.create_task(follow_sse(http, task_id, stats)) if sampled else None
        if stream is not None:
            streams.append(stream)
        if await_via == "temporal":
            # Like the bare baseline: the workflow result, long-polled from Temporal.
            with contextlib.suppress(WorkflowFailureError):
                await client.get_workflow_handle(task_id).result()
        elif await_via == "sse":
            if stream is None:
                stream = asyncio.create_task(follow_sse(http, task_id, SseStats()))
            await stream
        while True:  # GET /wait; returns at once when one of the above saw the end
            got = await http.get(f"/v1/tasks/{task_id}/wait", params={"timeout": 120})
            if got.status_code != 200:
                raise BenchError(f"GET /wait: {got.status_code} {got.text}")
            status = got.json()["status"]
            if TaskStatus(status).terminal:
                break
        latencies.append(time.perf_counter() - start)
        if status != TaskStatus.SUCCEEDED:
            failures.append(f"{task_id}: {status} {got.json().get('error')}")

    wall = await closed_loop(n, concurrency, one)
    await asyncio.wait_for(asyncio.gather(*streams), 120)
    return Round("cape", CAPE_ACTIVITIES, n, wall, latencies, failures, stats), ids


async def bare_round(
    client: Client, task_queue: str, activities: int, n: int, concurrency: int, tag: str
) -> Round:
    """N bare workflows started and awaited straight through the Temporal client."""
    latencies: list[float] = []

    async def one(i: int) -> None:
        start = time.perf_counter()
        await client.execute_workflow(
            WORKFLOW_NAME, activities, id=f"{tag}-{activities}-{i}", task_queue=task_queue
        )
        latencies.append(time.perf_counter() - start)

    wall = await closed_loop(n, concurrency, one)
    return Round(f"bare-{activities}", activities, n, wall, latencies)
