"""Slow-LLM concurrency: N tasks that each wait on the LLM, all started at once.

    python bench/slow_llm.py [--tasks 1000] [--delay 2] [--concurrency 50] [--db sqlite|postgres]

Each repeat runs two waves on the same dev server:
  1. cape: N `POST /v1/tasks` (agent `assistant`, a scripted model whose one turn waits
     `--delay` s, then answers), sent by `--concurrency` clients as fast as the API takes them.
     A task is workspace, LLM (the wait), finish_task.
  2. bare: N `BenchSleepWorkflow`s, one activity that sleeps `--delay` s, started through the
     Temporal client by as many clients, on a worker with the Cape worker's options.
A wave's wall time runs from its first start request to the last workflow's close time (read
from Temporal's visibility store once none runs). The peak RSS (VmHWM, reset before each wave)
of the Cape worker and of the bare worker is read from /proc. Worker options can be changed for
an experiment with BENCH_WORKER_OPTIONS and CAPE_* settings (see bench/workers.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/slow_llm.py` puts bench/, not the root, first
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from temporalio.client import Client, WorkflowExecutionStatus  # noqa: E402

from bench.bare import SLEEP_WORKFLOW_NAME  # noqa: E402
from bench.harness import Bench, add_common_args, bench_main, quick_defaults  # noqa: E402
from bench.procstat import cpu_delta, memory_kib, reset_peak, worker_processes  # noqa: E402
from bench.services import start_services  # noqa: E402
from bench.stack import BenchError, Proc, Stack  # noqa: E402
from bench.stats import compact, pct, print_summary, spread, verdict  # noqa: E402
from bench.workers import OPTIONS_ENV  # noqa: E402
from cape.contracts.temporal import AGENT_TASK_WORKFLOW  # noqa: E402
from cli.testing.scripts import Script, Turn  # noqa: E402

CAPE_WORKFLOW = AGENT_TASK_WORKFLOW
SCRIPT = "bench-slow"
TARGET_RATIO, TARGET_RSS_MIB = 1.1, 300
RETRIES_503 = 20
Starter = Callable[[int], Awaitable[None]]


@dataclass
class Wave:
    """N workflows started at once, and how long until the last one closed."""

    kind: str
    n: int
    submit: float = 0.0  # first start request -> last start accepted (s)
    wall: float = 0.0  # first start request -> last close (s)
    latencies: list[float] = field(default_factory=list)  # per workflow: start -> close (s)
    failed: int = 0
    peak_mib: float = float("nan")  # VmHWM of the worker during the wave
    before_mib: float = float("nan")  # its VmRSS when the wave began
    cpu: dict[str, float] = field(default_factory=dict)
    retried_503: int = 0  # POSTs answered 503 (database busy) and sent again


async def submit(n: int, concurrency: int, start_one: Starter) -> float:
    """Call `start_one(i)` for every i with `concurrency` clients; the seconds it took."""
    next_i = 0
    began = time.perf_counter()

    async def client() -> None:
        nonlocal next_i
        while next_i < n:
            i, next_i = next_i, next_i + 1
            await start_one(i)

    await asyncio.gather(*(client() for _ in range(min(concurrency, n))))
    return time.perf_counter() - began


async def closed(
    client: Client, workflow_type: str, ids: set[str], timeout: float
) -> list[dict[str, Any]]:
    """Wait until none of `workflow_type` runs; then the start/close/status of `ids`."""
    deadline = time.monotonic() + timeout
    query = f'WorkflowType="{workflow_type}" AND ExecutionStatus="Running"'
    while (await client.count_workflows(query)).count:
        if time.monotonic() > deadline:
            raise BenchError(f"{workflow_type}: still running after {timeout:g} s")
        await asyncio.sleep(0.2)
    found: dict[str, dict[str, Any]] = {}
    while True:  # visibility may lag the close by a moment
        async for wf in client.list_workflows(f'WorkflowType="{workflow_type}"'):
            if wf.id in ids and wf.close_time is not None:
                found[wf.id] = {"start": wf.start_time, "close": wf.close_time, "status": wf.status}
        if len(found) == len(ids) or time.monotonic() > deadline:
            return list(found.values())
        await asyncio.sleep(0.2)


async def wave(
    kind: str, n: int, concurrency: int, start_one: Starter, client: Client, workflow_type: str,
    ids: set[str], worker: Proc, stack: Stack, timeout: float,
) -> Wave:  # fmt: skip
    result = Wave(kind, n)
    # Per worker process: the largest of `cape worker --processes N`'s children.
    pids = worker_processes(worker.popen.pid)
    for pid in pids:
        reset_peak(pid)
    result.before_mib = max(memory_kib(pid).get("VmRSS", 0) for pid in pids) / 1024
    cpu_before = stack.cpu()
    first = datetime.now(UTC)
    result.submit = await submit(n, concurrency, start_one)
    rows = await closed(client, workflow_type, ids, timeout)
    result.cpu = cpu_delta(cpu_before, stack.cpu())
    result.peak_mib = max(memory_kib(pid).get("VmHWM", 0) for pid in pids) / 1024
    if len(rows) < n:
        raise BenchError(f"{kind}: {n - len(rows)} of {n} workflows not found closed")
    result.wall = (max(r["close"] for r in rows) - first).total_seconds()
    result.latencies = [(r["close"] - r["start"]).total_seconds() for r in rows]
    result.failed = sum(r["status"] != WorkflowExecutionStatus.COMPLETED for r in rows)
    return result


async def run(args: argparse.Namespace, bench: Bench) -> None:
    tag = uuid.uuid4().hex[:8]
    script = Script(name=SCRIPT, turns=[Turn(content="done", delay_seconds=args.delay)])
    services = await start_services(bench.stack, args, bench.workdir, tag, scripts=[script])
    client, bare_worker = services.client, services.bare_worker
    assert bare_worker is not None
    print("CapeControl slow-LLM concurrency benchmark")
    print(f"  app database: {services.db_label}")
    print(
        f"  load: {args.tasks} tasks waiting {args.delay:g} s on the scripted LLM, started by "
        f"{args.concurrency} clients at once, vs as many bare 1-activity workflows sleeping "
        f"{args.delay:g} s; {args.repeat} repeats after a warm-up wave of {args.warmup}"
    )
    print(
        f"  worker: CAPE_MAX_CONCURRENT_ACTIVITIES={services.settings.max_concurrent_activities}"
        f", {OPTIONS_ENV}={os.environ.get(OPTIONS_ENV) or '(none: worker/main.py as is)'}",
        flush=True,
    )
    headers = {"Authorization": f"Bearer {services.key}"}
    limits = httpx.Limits(max_connections=args.concurrency + 8, max_keepalive_connections=None)
    async with httpx.AsyncClient(
        base_url=services.api_url, headers=headers, timeout=300, limits=limits
    ) as http:

        async def cape(n: int, label: str) -> Wave:
            ids: set[str] = set()
            retried: list[str] = []

            async def post(i: int) -> None:
                body = {"agent": "assistant", "input": {"prompt": f"{label} {i}"},
                        "model": f"script:{SCRIPT}"}  # fmt: skip
                for attempt in range(RETRIES_503 + 1):
                    response = await http.post("/v1/tasks", json=body)
                    if response.status_code != 503 or attempt == RETRIES_503:
                        break
                    # "retry shortly": what a client does when the database is busy.
                    retried.append(response.text)
                    await asyncio.sleep(0.5 * (attempt + 1))
                if response.status_code != 201:
                    raise BenchError(f"POST /v1/tasks: {response.status_code} {response.text}")
                ids.add(response.json()["id"])

            result = await wave(
                "cape", n, args.concurrency, post, client, CAPE_WORKFLOW, ids,
                services.worker, bench.stack, args.timeout,
            )  # fmt: skip
            result.retried_503 = len(retried)
            return result

        async def bare(n: int, label: str) -> Wave:
            ids = {f"{label}-{i}" for i in range(n)}

            async def start(i: int) -> None:
                await client.start_workflow(
                    SLEEP_WORKFLOW_NAME, args.delay, id=f"{label}-{i}",
                    task_queue=services.bare_queue,
                )  # fmt: skip

            return await wave(
                "bare", n, args.concurrency, start, client, SLEEP_WORKFLOW_NAME, ids,
                bare_worker, bench.stack, args.timeout,
            )  # fmt: skip

        if args.warmup:
            await cape(args.warmup, f"{tag}-warm")
            await bare(args.warmup, f"{tag}-warm")
        repeats: list[dict[str, Wave]] = []
        for index in range(1, args.repeat + 1):
            waves = {"cape": await cape(args.tasks, f"{tag}-r{index}")}
            await asyncio.sleep(args.pause)
            waves["bare"] = await bare(args.tasks, f"bare-{tag}-r{index}")
            await asyncio.sleep(args.pause)
            repeats.append(waves)
            print(
                f"  repeat {index}: "
                + " | ".join(
                    f"{w.kind} wall {w.wall:.1f} s (submit {w.submit:.1f} s, failed {w.failed}, "
                    f"503 retried {w.retried_503}, worker peak RSS {w.peak_mib:.0f} MiB)"
                    for w in waves.values()
                ),
                flush=True,
            )
    report(repeats, args, services.db_label)


def report(repeats: list[dict[str, Wave]], args: argparse.Namespace, db_label: str) -> None:
    cape = [r["cape"] for r in repeats]
    bare = [r["bare"] for r in repeats]
    ratio = [c.wall / b.wall for c, b in zip(cape, bare, strict=True)]
    print(f"\nResults: median [min - max] over {len(repeats)} repeats")
    for w in (cape, bare):
        kind = w[0].kind
        print(f"  {kind} wall s              {spread([x.wall for x in w])}")
        print(f"  {kind} submit s            {spread([x.submit for x in w])}")
        for q in (50, 99):
            values = [pct(x.latencies, q) for x in w]
            print(f"  {kind} task p{q} s          {spread(values, '{:.2f}')}")
        print(f"  {kind} worker RSS before   {spread([x.before_mib for x in w], '{:.0f}')} MiB")
        print(f"  {kind} worker peak RSS     {spread([x.peak_mib for x in w], '{:.0f}')} MiB")
        names = [k for k in w[0].cpu if not k.startswith("machine")]
        cpu = ", ".join(f"{k} {statistics.median(x.cpu.get(k, 0) for x in w):.1f}" for k in names)
        print(f"  {kind} CPU s per wave: {cpu}")
    print(f"  ratio cape / bare wall  {spread(ratio, '{:.2f}')}")
    rows = [
        ("cape wall s", compact([c.wall for c in cape]), ""),
        ("bare wall s", compact([b.wall for b in bare]), ""),
        (
            "ratio cape / bare",
            compact(ratio, "{:.2f}"),
            f"<= {TARGET_RATIO}: {verdict(statistics.median(ratio), TARGET_RATIO)}",
        ),
        ("cape submit s (all POSTs answered)", compact([c.submit for c in cape]), ""),
        ("bare submit s", compact([b.submit for b in bare]), ""),
        ("cape task p50 / p99 s", _pair(cape), ""),
        ("bare workflow p50 / p99 s", _pair(bare), ""),
        (
            "Cape worker peak RSS MiB",
            compact([c.peak_mib for c in cape], "{:.0f}"),
            f"<= {TARGET_RSS_MIB}: {verdict(max(c.peak_mib for c in cape), TARGET_RSS_MIB)}",
        ),
        ("bare worker peak RSS MiB", compact([b.peak_mib for b in bare], "{:.0f}"), ""),
    ]
    failed = sum(c.failed for c in cape) + sum(b.failed for b in bare)
    notes = [f"!! {failed} workflows did not complete"] if failed else []
    retried = sum(c.retried_503 for c in cape)
    if retried:
        notes.append(f"!! {retried} POSTs were answered 503 (database busy) and sent again")
    title = f"slow LLM, {args.tasks} tasks x {args.delay:g} s, {args.concurrency} clients"
    print_summary(f"{title}, {db_label}", rows, notes)


def _pair(waves: list[Wave]) -> str:
    p50 = statistics.median(pct(w.latencies, 50) for w in waves)
    p99 = statistics.median(pct(w.latencies, 99) for w in waves)
    return f"{p50:.2f} / {p99:.2f}"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="N tasks waiting on a slow LLM, started at once, vs a bare workflow.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--tasks", type=int, default=1000, help="tasks (and workflows) per wave")
    parser.add_argument("--delay", type=float, default=2.0, help="seconds each LLM call waits")
    parser.add_argument("--concurrency", type=int, default=50, help="clients sending the starts")
    parser.add_argument("--repeat", type=int, default=3, help="repeats; median/min/max reported")
    parser.add_argument("--warmup", type=int, default=50, help="untimed tasks of each kind first")
    parser.add_argument("--pause", type=float, default=3.0, help="seconds of quiet between waves")
    parser.add_argument("--timeout", type=float, default=900, help="give up on a wave after")
    quick_defaults(parser, tasks=60, repeat=1, warmup=10)
    add_common_args(parser)
    args = parser.parse_args()
    if args.tasks < 1 or args.concurrency < 1 or args.repeat < 1 or args.delay < 0:
        parser.error("--tasks, --concurrency and --repeat must be at least 1, --delay >= 0")
    return args


if __name__ == "__main__":
    bench_main(parse_args, run)
