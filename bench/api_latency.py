"""API latency: POST /v1/tasks and GET /v1/tasks/{id} under 20 concurrent clients.

    python bench/api_latency.py [--requests N] [--clients C] [--rate R] [--db sqlite|postgres]

Each repeat has two timed phases, both with C clients (default 20):
  1. POST: N tasks created through `POST /v1/tasks` (each starts its workflow on Temporal).
     Half the tasks answer at once (workspace, LLM, finish run on the worker meanwhile, as in
     real use), half wait `--hold` seconds on the scripted LLM, so they are still running later.
  2. GET: N `GET /v1/tasks/{id}` over those tasks, one each. A running task's GET also reads
     its steps (its `live` block); with `--live` it queries its workflow for it instead
     (`?live=true`: a round trip through Temporal to the worker, as every such GET did before
     issue 20's third round); an ended task's is the row alone. Both kinds are reported, and
     together.
Then it waits until every task ended, so the next repeat starts from a quiet system.

Clients are closed-loop (each sends its next request when the previous answered), so the
latency is measured at the API's saturation throughput; `--rate R` paces the clients to R
requests/s in total instead. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/api_latency.py` puts bench/, not the root, first
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.harness import Bench, add_common_args, bench_main, quick_defaults  # noqa: E402
from bench.services import start_services  # noqa: E402
from bench.stack import BenchError  # noqa: E402
from bench.stats import compact, pct, print_summary, spread, verdict  # noqa: E402
from cape.domain import TaskStatus  # noqa: E402
from cli.testing.scripts import Script, Turn  # noqa: E402

AGENT = "assistant"
TARGET_P99_MS = 50
SLOW, FAST = "bench-api-slow", "bench-api-fast"
RUNNING, ENDED = "GET of a running task", "GET of an ended task (row)"


@dataclass
class Phase:
    """One timed phase: latencies (s) by kind of request, and its wall time."""

    wall: float = 0.0
    ms: dict[str, list[float]] = field(default_factory=dict)
    errors: int = 0  # 503 answers (the database stayed busy); their latency is counted

    def add(self, kind: str, seconds: float) -> None:
        self.ms.setdefault(kind, []).append(seconds * 1000)

    def rate(self) -> float:
        return sum(len(v) for v in self.ms.values()) / self.wall


async def clients(n: int, count: int, rate: float, one: Callable[[int], Awaitable[None]]) -> float:
    """`one(i)` for i in range(n) by `count` clients, closed-loop or paced; the wall time."""
    next_i = 0
    start = time.perf_counter()
    interval = count / rate if rate > 0 else 0.0

    async def client(k: int) -> None:
        nonlocal next_i
        due = start + interval * k / count  # stagger the paced clients
        while next_i < n:
            if interval:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                due += interval
                if next_i >= n:  # taken by the other clients while this one slept
                    break
            i, next_i = next_i, next_i + 1
            await one(i)

    await asyncio.gather(*(client(k) for k in range(min(count, n))))
    return time.perf_counter() - start


async def post_phase(
    http: httpx.AsyncClient, args: argparse.Namespace, tag: str
) -> tuple[Phase, list[str]]:
    phase = Phase()
    ids: list[str] = []

    async def one(i: int) -> None:
        script = SLOW if i % 2 == 0 else FAST
        body = {"agent": AGENT, "input": {"prompt": f"{tag} {i}"}, "model": f"script:{script}"}
        started = time.perf_counter()
        response = await http.post("/v1/tasks", json=body)
        phase.add("POST", time.perf_counter() - started)
        if response.status_code == 503:  # the database stayed busy: counted, not fatal
            phase.errors += 1
            return
        if response.status_code != 201:
            raise BenchError(f"POST /v1/tasks: {response.status_code} {response.text}")
        ids.append(response.json()["id"])

    phase.wall = await clients(args.requests, args.clients, args.rate, one)
    return phase, ids


async def get_phase(http: httpx.AsyncClient, args: argparse.Namespace, ids: list[str]) -> Phase:
    phase = Phase()

    async def one(i: int) -> None:
        started = time.perf_counter()
        params = {"live": "true"} if args.live else {}
        response = await http.get(f"/v1/tasks/{ids[i % len(ids)]}", params=params)
        elapsed = time.perf_counter() - started
        if response.status_code == 503:
            phase.errors += 1
            phase.add("GET", elapsed)
            return
        if response.status_code != 200:
            raise BenchError(f"GET /v1/tasks/{{id}}: {response.status_code} {response.text}")
        task = response.json()
        phase.add("GET", elapsed)
        ended = TaskStatus(task["status"]).terminal
        phase.add(ENDED if ended else RUNNING, elapsed)

    phase.wall = await clients(args.requests, args.clients, args.rate, one)
    return phase


async def wait_all(http: httpx.AsyncClient, ids: list[str], timeout: float) -> int:
    """Wait until every task ended; returns how many did not succeed."""
    failed = 0
    gate = asyncio.Semaphore(50)

    async def one(task_id: str) -> None:
        nonlocal failed
        async with gate:
            response = await http.get(f"/v1/tasks/{task_id}/wait", params={"timeout": timeout})
        if response.status_code != 200 or response.json()["status"] != TaskStatus.SUCCEEDED:
            failed += 1

    await asyncio.gather(*(one(i) for i in ids))
    return failed


async def run(args: argparse.Namespace, bench: Bench) -> None:
    tag = uuid.uuid4().hex[:8]
    scripts = [
        Script(name=FAST, turns=[Turn(content="ok")]),
        Script(name=SLOW, turns=[Turn(content="ok", delay_seconds=args.hold)]),
    ]
    services = await start_services(
        bench.stack, args, bench.workdir, tag, scripts=scripts, bare=False
    )
    mode = "closed-loop clients"
    if args.rate:
        mode = f"clients paced to {args.rate:g} requests/s in total"
    if args.live:
        mode += ", GET with ?live=true"
    print("CapeControl API latency benchmark")
    print(f"  app database: {services.db_label}")
    print(
        f"  load: {args.clients} {mode}; per repeat {args.requests} POST /v1/tasks "
        f"(agent `{AGENT}`, half answering at once, half holding {args.hold:g} s on the LLM), "
        f"then {args.requests} GET /v1/tasks/{{id}}; {args.repeat} repeats after "
        f"{args.warmup} warm-up requests of each",
        flush=True,
    )
    headers = {"Authorization": f"Bearer {services.key}"}
    limits = httpx.Limits(max_connections=args.clients + 60, max_keepalive_connections=None)
    repeats: list[dict[str, Phase]] = []
    async with httpx.AsyncClient(
        base_url=services.api_url, headers=headers, timeout=120, limits=limits
    ) as http:
        if args.warmup:
            warm = argparse.Namespace(**{**vars(args), "requests": args.warmup})
            _, ids = await post_phase(http, warm, f"{tag}-warm")
            await get_phase(http, warm, ids)
            await wait_all(http, ids, args.hold + 120)
        for index in range(1, args.repeat + 1):
            posted, ids = await post_phase(http, args, f"{tag}-r{index}")
            got = await get_phase(http, args, ids)
            phases = {"POST": posted, "GET": got}
            repeats.append(phases)
            line = " | ".join(
                f"{kind} n={len(v)} p50 {pct(v, 50):.0f} p99 {pct(v, 99):.0f} ms"
                for p in phases.values()
                for kind, v in p.ms.items()
            )
            if posted.errors + got.errors:
                line += f" | {posted.errors + got.errors} x 503"
            print(f"  repeat {index}: {line}", flush=True)
            failed = await wait_all(http, ids, args.hold + 120)
            if failed:
                print(f"  !! {failed} tasks of repeat {index} did not succeed")
    report(repeats, args, services.db_label, mode)


def report(
    repeats: list[dict[str, Phase]], args: argparse.Namespace, db_label: str, mode: str
) -> None:
    kinds = [
        (name, kind)
        for name, kind in (("POST", "POST"), ("GET", "GET"), ("GET", RUNNING), ("GET", ENDED))
        if any(kind in r[name].ms for r in repeats)
    ]
    print(f"\nResults: median [min - max] over {len(repeats)} repeats (ms)")
    for name, kind in kinds:
        lists = [r[name].ms[kind] for r in repeats if kind in r[name].ms]
        count = sum(len(v) for v in lists)
        for q in (50, 95, 99):
            print(f"  {kind:<32} p{q:<3} {spread([pct(v, q) for v in lists])}  (n={count})")
    for name in ("POST", "GET"):
        print(f"  {name} requests/s: {spread([r[name].rate() for r in repeats])}")
    rows = []
    for name, kind in kinds:
        lists = [r[name].ms[kind] for r in repeats if kind in r[name].ms]
        p99 = [pct(v, 99) for v in lists]
        target = f"<= {TARGET_P99_MS}: {verdict(statistics.median(p99), TARGET_P99_MS)}"
        rows.append((f"{kind} p50 ms", compact([pct(v, 50) for v in lists], "{:.0f}"), ""))
        rows.append((f"{kind} p99 ms", compact(p99, "{:.0f}"), target if kind == name else ""))
    for name in ("POST", "GET"):
        rows.append((f"{name} requests/s", compact([r[name].rate() for r in repeats]), ""))
    errors = {name: sum(r[name].errors for r in repeats) for name in ("POST", "GET")}
    notes = [f"!! {n} {name} requests answered 503" for name, n in errors.items() if n]
    print_summary(f"API latency, {args.clients} {mode}, {db_label}", rows, notes)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="POST /v1/tasks and GET /v1/tasks/{id} latency under concurrent clients.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--requests", type=int, default=400, help="POSTs (and GETs) per repeat")
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients")
    parser.add_argument("--rate", type=float, default=0, help="total requests/s (0: closed loop)")
    parser.add_argument("--repeat", type=int, default=3, help="repeats; median/min/max reported")
    parser.add_argument(
        "--live", action="store_true", help="GET with ?live=true (the workflow's state query)"
    )
    parser.add_argument("--warmup", type=int, default=40, help="untimed requests of each first")
    parser.add_argument(
        "--hold", type=float, default=20, help="seconds half the tasks wait on the LLM"
    )
    quick_defaults(parser, requests=40, repeat=1, warmup=10, hold=5)
    add_common_args(parser)
    args = parser.parse_args()
    if args.requests < 2 or args.clients < 1 or args.repeat < 1 or args.rate < 0:
        parser.error("--requests >= 2, --clients >= 1, --repeat >= 1 and --rate >= 0")
    return args


if __name__ == "__main__":
    bench_main(parse_args, run)
