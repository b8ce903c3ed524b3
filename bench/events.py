"""Events: publish rate, routing rate and publish-to-task-start latency, with task throughput.

    python bench/events.py [--events N] [--clients C] [--db sqlite|postgres] [--quick]

One run: an agent whose trigger matches `bench.event` (its model answers at once), then N
events published through `POST /v1/events` by C closed-loop clients. Reported: events/s
accepted by the API, events/s routed (publish of the first to the routing of the last, read
from the event log), tasks/s finished over the same run, and the p50/p95 from publish to the
start of each task (`GET /v1/events/stats`). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/events.py` puts bench/, not the root, first
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.harness import Bench, add_common_args, bench_main, quick_defaults  # noqa: E402
from bench.services import start_services  # noqa: E402
from bench.stack import BenchError  # noqa: E402
from bench.stats import print_summary  # noqa: E402
from cli.testing.scripts import Script, Turn  # noqa: E402

SCRIPT = "bench-events"
EVENT = "bench.event"


async def publish_all(http: httpx.AsyncClient, n: int, clients: int) -> tuple[list[str], float]:
    """Publish `n` events with `clients` closed-loop clients; their ids and the wall time."""
    ids: list[str] = []
    next_i = 0

    async def client() -> None:
        nonlocal next_i
        while next_i < n:
            i, next_i = next_i, next_i + 1
            sent = await http.post("/v1/events", json={"type": EVENT, "data": {"i": i}})
            if sent.status_code != 202:
                raise BenchError(f"POST /v1/events: {sent.status_code} {sent.text}")
            ids.append(sent.json()["id"])

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(min(clients, n))))
    return ids, time.perf_counter() - started


async def wait_routed(
    http: httpx.AsyncClient, ids: list[str], timeout: float
) -> list[dict[str, Any]]:
    """Every event once routed (polling the log)."""
    deadline = time.monotonic() + timeout
    done: dict[str, dict[str, Any]] = {}
    while len(done) < len(ids):
        if time.monotonic() > deadline:
            raise BenchError(f"{len(ids) - len(done)} events not routed in {timeout:g} s")
        for event_id in [i for i in ids if i not in done][:200]:
            event = (await http.get(f"/v1/events/{event_id}")).json()
            if event["status"] != "pending":
                done[event_id] = event
        await asyncio.sleep(0.2)
    return list(done.values())


async def wait_tasks(http: httpx.AsyncClient, task_ids: list[str], timeout: float) -> int:
    """Wait until every task ended; returns how many did not succeed."""
    gate = asyncio.Semaphore(50)
    failed = 0

    async def one(task_id: str) -> None:
        nonlocal failed
        async with gate:
            wait = {"timeout": min(timeout, 300)}
            got = await http.get(f"/v1/tasks/{task_id}/wait", params=wait)
        if got.status_code != 200 or got.json()["status"] != "succeeded":
            failed += 1

    await asyncio.gather(*(one(t) for t in task_ids))
    return failed


async def run(args: argparse.Namespace, bench: Bench) -> None:
    tag = uuid.uuid4().hex[:8]
    scripts = [Script(name=SCRIPT, turns=[Turn(content="ok")])]
    services = await start_services(
        bench.stack, args, bench.workdir, tag, scripts=scripts, bare=False
    )
    print("CapeControl events benchmark")
    print(f"  app database: {services.db_label}")
    print(f"  load: {args.events} events by {args.clients} closed-loop clients", flush=True)
    headers = {"Authorization": f"Bearer {services.key}"}
    async with httpx.AsyncClient(base_url=services.api_url, headers=headers, timeout=120) as http:
        agent = {
            "name": f"bench-ev-{tag}", "version": "1.0.0", "description": "events bench",
            "system_prompt": "You answer ok.", "model": {"name": f"script:{SCRIPT}"},
            "input_schema": {"type": "object", "properties": {"prompt": {"type": "string"}}},
            "triggers": [{"event": EVENT, "input": {"prompt": "event {{ event.data.i }}"}}],
        }  # fmt: skip
        made = await http.post("/v1/agents", params={"publish": "true"}, json=agent)
        if made.status_code != 201:
            raise BenchError(f"POST /v1/agents: {made.status_code} {made.text}")
        # Untimed warm-up: the worker's first workflow tasks load the workflow sandbox.
        warm, _ = await publish_all(http, args.warmup, args.clients)
        await wait_routed(http, warm, args.timeout)
        ids, publish_wall = await publish_all(http, args.events, args.clients)
        events = await wait_routed(http, ids, args.timeout)
        first = min(datetime.fromisoformat(e["published_at"]) for e in events)
        last = max(datetime.fromisoformat(e["routed_at"]) for e in events)
        routed_wall = (last - first).total_seconds()
        tasks = [r["task_id"] for e in events for r in e.get("routes") or [] if r["task_id"]]
        begun = time.perf_counter()
        failed = await wait_tasks(http, tasks, args.timeout)
        tasks_wall = publish_wall + (time.perf_counter() - begun)
        since = {"since": min(e["published_at"] for e in events)}
        stats = (await http.get("/v1/events/stats", params=since)).json()["types"]
    [row] = [s for s in stats if s["type"] == EVENT]
    statuses = [e["status"] for e in events]
    print(f"\n  published: {len(ids)} in {publish_wall:.1f} s = {len(ids) / publish_wall:.1f}/s")
    print(f"  routed:    {statuses.count('routed')} in {routed_wall:.1f} s "
          f"= {len(events) / max(routed_wall, 1e-9):.1f}/s")  # fmt: skip
    print(f"  tasks:     {len(tasks)} ended ({failed} not succeeded), "
          f"{len(tasks) / tasks_wall:.1f}/s over the run")  # fmt: skip
    print(f"  publish -> task start: p50 {row['start_latency_p50_ms']} ms, "
          f"p95 {row['start_latency_p95_ms']} ms")  # fmt: skip
    latencies = [float(row["start_latency_p50_ms"] or 0), float(row["start_latency_p95_ms"] or 0)]
    rows = [
        ("events published /s", f"{len(ids) / publish_wall:.1f}", ""),
        ("events routed /s", f"{len(events) / max(routed_wall, 1e-9):.1f}", ""),
        ("tasks finished /s", f"{len(tasks) / tasks_wall:.1f}", ""),
        ("publish -> task start p50 ms", f"{latencies[0]:.0f}", ""),
        ("publish -> task start p95 ms", f"{latencies[1]:.0f}", ""),
    ]
    notes = [f"!! {failed} tasks did not succeed"] if failed else []
    print_summary(f"Events, {args.clients} clients, {services.db_label}", rows, notes)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Publish and routing rate of events and publish-to-task-start latency.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--events", type=int, default=200, help="events published")
    parser.add_argument("--clients", type=int, default=10, help="concurrent publishers")
    parser.add_argument("--warmup", type=int, default=10, help="untimed events first")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for routing")
    quick_defaults(parser, events=20, clients=4, warmup=4)
    add_common_args(parser)
    return parser.parse_args()


if __name__ == "__main__":
    bench_main(parse_args, run)
