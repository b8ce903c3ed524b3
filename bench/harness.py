"""What every benchmark script shares: common options, the run's lifetime, a watchdog.

A script calls `bench_main(parse_args, run)`. Its `run(args, bench)` gets a `Bench`: the work dir
and the `Stack` of subprocesses, stopped (and the PostgreSQL database dropped) however the run
ends: normally, on an error, on Ctrl-C or on SIGTERM. While the run goes on, a watchdog checks
the subprocesses every second, so a service that dies fails the run at once instead of leaving
the load waiting on tasks that never end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.stack import BenchError, Stack
from cli.testing.databases import drop_postgres_database

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass
class Bench:
    """One benchmark run: where its files go and its subprocesses."""

    workdir: Path
    stack: Stack


def quick_defaults(parser: argparse.ArgumentParser, **values: Any) -> None:
    """`--quick`: a smoke run. Its values are defaults, so other options still change them."""
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {values}")
    if "--quick" in sys.argv[1:]:
        parser.set_defaults(**values)


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """The options every script takes: app database, Temporal storage, logs, work dir."""
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite", help="app DB")
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


async def _watch(stack: Stack, main: asyncio.Task[None], failure: list[BenchError]) -> None:
    while True:
        await asyncio.sleep(1)
        try:
            stack.check()
        except BenchError as exc:
            failure.append(exc)
            main.cancel()
            return


async def _run(
    args: argparse.Namespace, body: Callable[[argparse.Namespace, Bench], Awaitable[None]]
) -> None:
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="cape-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    bench = Bench(workdir, Stack(workdir / "logs"))
    main = asyncio.current_task()
    assert main is not None
    loop = asyncio.get_running_loop()
    # SIGTERM (a CI timeout, `kill`) must stop the services too: they run in their own sessions.
    loop.add_signal_handler(signal.SIGTERM, main.cancel)
    failure: list[BenchError] = []
    watchdog = asyncio.create_task(_watch(bench.stack, main, failure))
    keep = args.keep or args.workdir is not None
    try:
        await body(args, bench)
    except asyncio.CancelledError:
        if failure:
            keep = True
            raise failure[0] from None
        raise
    except BenchError:
        keep = True  # the services' logs say why
        raise
    finally:
        watchdog.cancel()
        bench.stack.stop_all()
        if bench.stack.pg_database is not None:
            drop_postgres_database(args.pg_admin_url, bench.stack.pg_database)
        if keep:
            print(f"\n(work dir with logs kept: {workdir})", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def bench_main(
    parse_args: Callable[[], argparse.Namespace],
    body: Callable[[argparse.Namespace, Bench], Awaitable[None]],
) -> None:
    """Parse the options, run `body`, exit 1 on a BenchError and 130 on Ctrl-C or SIGTERM."""
    args = parse_args()
    try:
        asyncio.run(_run(args, body))
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        sys.exit(1)
    except (KeyboardInterrupt, asyncio.CancelledError):
        sys.exit(130)
