"""Starting the benchmark's services: Temporal, fake LLM, Cape worker and API, bare worker."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client

from bench.bare import BareWorkflow, noop
from bench.stack import Stack, free_port, wait_http
from cape import devserver
from cape.settings import Settings
from cape.testing.databases import create_postgres_database, postgres_version

SCRIPT = str(Path(__file__).resolve().with_name("throughput.py"))  # runs the bare worker too


@dataclass
class Services:
    """What the load needs from the started services."""

    client: Client  # of the Temporal dev server
    settings: Settings  # of the Cape worker and API
    api_url: str
    key: str  # API key of the bench
    bare_queue: str  # task queue of the bare worker
    db_label: str  # the app database, for the header
    db_file: Path | None  # the Temporal server's SQLite file (None: in memory)


async def start_services(
    stack: Stack, args: argparse.Namespace, workdir: Path, tag: str
) -> Services:
    """Start every service in `stack` and wait until each answers.

    With `--db postgres` the fresh database's name is left in `stack.pg_database` as soon as it
    exists: the caller drops it, also when a later step fails.
    """
    py = sys.executable
    temporal_port = free_port()
    db_file = None if args.temporal_memory else workdir / "temporal.db"
    server_args = devserver.dev_server_args(port=temporal_port, ui_port=None, db_file=db_file)
    temporal = stack.start("temporal", [str(devserver.temporal_binary()), *server_args])
    address = f"127.0.0.1:{temporal_port}"
    client = await devserver.wait_for_temporal(address, alive=lambda: temporal.popen.poll() is None)
    await devserver.ensure_search_attributes(client, "default")

    llm_port = free_port()
    stack.start("fake-llm", [py, "-m", "cape.cli", "fake-llm", "--port", str(llm_port)])

    if args.db == "postgres":
        database_url, pg_name = create_postgres_database(args.pg_admin_url, "cape_bench")
        stack.pg_database = pg_name
        db_label = f"PostgreSQL {postgres_version(args.pg_admin_url)} (fresh database {pg_name})"
    else:
        database_url = f"sqlite+aiosqlite:///{workdir / 'data' / 'cape.db'}"
        db_label = "SQLite file (WAL, synchronous=NORMAL, BEGIN IMMEDIATE for writers)"
    settings = Settings(
        database_url=database_url,
        data_dir=workdir / "data",
        temporal_address=address,
        task_queue=f"bench-cape-{tag}",
        openai_base_url=f"http://127.0.0.1:{llm_port}/v1",
        openai_api_key="bench",
        default_model="demo",
    )
    from cape.cli.processes import register_key
    from cape.db.migrate import upgrade

    upgrade(settings)
    key = await register_key(settings, owner="bench", name="bench")

    api_port = free_port()
    env = cape_env(settings, api_port, args.log_level)
    stack.start("worker", [py, "-m", "cape.cli", "worker"], env)
    stack.start("api", [py, "-m", "cape.cli", "api"], env)
    bare_queue = f"bench-bare-{tag}"
    stack.start("bare-worker", [py, SCRIPT, "--bare-worker", address, bare_queue], env)
    api_url = f"http://127.0.0.1:{api_port}"
    await wait_http(f"{api_url}/healthz", stack)
    await wait_http(f"{settings.openai_base_url}/models", stack)
    return Services(client, settings, api_url, key, bare_queue, db_label, db_file)


def cape_env(settings: Settings, api_port: int, log_level: str) -> dict[str, str]:
    """Environment for the bench's `cape` subprocesses: the same settings, this API port."""
    child = settings.model_copy(update={"api_host": "127.0.0.1", "api_port": api_port})
    return {**os.environ, **child.to_env(), "CAPE_LOG_LEVEL": log_level, "PYTHONUNBUFFERED": "1"}


def run_bare_worker(address: str, task_queue: str) -> None:
    """Serve BareWorkflow with exactly the worker options of `worker.main.build_worker`.

    The body of the bare-worker subprocess (`throughput.py --bare-worker ADDRESS QUEUE`).
    """
    from temporalio.worker import Worker

    import worker.main as cape_worker

    async def serve() -> None:
        client = await Client.connect(address)
        # build_worker reads these two module globals: pointing them at the bare workflow and
        # activity gives the baseline the Cape worker's options without copying them here.
        cape_worker.WORKFLOWS = (BareWorkflow,)
        cape_worker.build_activities = lambda *_: [noop]  # type: ignore[assignment]
        settings = Settings(temporal_address=address, task_queue=task_queue)
        bare: Worker = cape_worker.build_worker(client, settings, None, None)  # type: ignore[arg-type]
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with bare:
            await stop.wait()

    asyncio.run(serve())
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # sdk-python #300: no interpreter teardown after the worker shut down
