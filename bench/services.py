"""Starting the benchmark's services: Temporal, fake LLM, Cape worker and API, bare worker.

Worker options for tuning experiments come from `BENCH_WORKER_OPTIONS` (see bench/workers.py),
settings from the usual `CAPE_*` variables or `settings_update`; both reach the Cape worker and
the bare worker alike.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from bench.stack import BenchError, Proc, Stack, free_port, wait_http
from cape.search_attributes import ensure_search_attributes
from cape.settings import Settings
from cli import devserver
from cli.testing.databases import create_postgres_database, postgres_version
from cli.testing.scripts import Script

WORKERS = str(Path(__file__).resolve().with_name("workers.py"))


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
    worker: Proc  # the Cape worker process (its RSS is measured)
    bare_worker: Proc | None


async def start_services(
    stack: Stack,
    args: argparse.Namespace,
    workdir: Path,
    tag: str,
    *,
    scripts: Sequence[Script] = (),
    settings_update: dict[str, Any] | None = None,
    bare: bool = True,
) -> Services:
    """Start every service in `stack` and wait until each answers.

    With `--db postgres` the fresh database's name is left in `stack.pg_database` as soon as it
    exists: the caller drops it, also when a later step fails.

    Args:
        stack: Where the subprocesses are started.
        args: The script's options (see `bench.harness.add_common_args`).
        workdir: The run's directory (databases, workspaces, logs).
        tag: Unique part of task queue names.
        scripts: Scripted LLM conversations to register (model `script:<name>`).
        settings_update: Settings of the Cape worker and API that differ from the defaults.
        bare: Whether to start the bare worker too.
    """
    py = sys.executable
    temporal_port = free_port()
    db_file = None if args.temporal_memory else workdir / "temporal.db"
    server_args = devserver.dev_server_args(port=temporal_port, ui_port=None, db_file=db_file)
    temporal = stack.start("temporal", [str(devserver.temporal_binary()), *server_args])
    address = f"127.0.0.1:{temporal_port}"
    client = await devserver.wait_for_temporal(address, alive=lambda: temporal.popen.poll() is None)
    await ensure_search_attributes(client, "default")

    llm_port = free_port()
    stack.start("fake-llm", [py, "-m", "cli", "fake-llm", "--port", str(llm_port)])

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
        **(settings_update or {}),
    )
    from cli.processes import register_key
    from migrations.apply import upgrade

    upgrade(settings)
    key = await register_key(settings, owner="bench", name="bench")

    api_port = free_port()
    env = cape_env(settings, api_port, args.log_level)
    worker = stack.start("worker", [py, WORKERS, "cape"], env)
    stack.start("api", [py, "-m", "cli", "api"], env)
    bare_queue = f"bench-bare-{tag}"
    bare_worker = None
    if bare:
        bare_worker = stack.start("bare-worker", [py, WORKERS, "bare", address, bare_queue], env)
    api_url = f"http://127.0.0.1:{api_port}"
    await wait_http(f"{api_url}/healthz", stack)
    await wait_http(f"{settings.openai_base_url}/models", stack)
    for script in scripts:
        await put_script(settings.openai_base_url, script)
    return Services(
        client, settings, api_url, key, bare_queue, db_label, db_file, worker, bare_worker
    )


async def put_script(openai_base_url: str, script: Script) -> None:
    """Register a scripted conversation on the running fake LLM (`cape fake-llm`)."""
    base = openai_base_url.removesuffix("/v1")
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        response = await http.put(f"/_scripts/{script.name}", json=script.model_dump())
    if response.status_code != 200:
        raise BenchError(f"fake LLM refused script {script.name}: {response.text}")


def cape_env(settings: Settings, api_port: int, log_level: str) -> dict[str, str]:
    """Environment for the bench's `cape` subprocesses: the same settings, this API port.

    Bytecode is written, to a cache of the run's own: without .pyc files (this machine sets
    PYTHONDONTWRITEBYTECODE=1) the workflow sandbox compiles the workflow modules from source
    for every new workflow run, which cost the worker 15% of its CPU. An installed CapeControl
    (the Docker image: pip compiles on install) has them.
    """
    child = settings.model_copy(update={"api_host": "127.0.0.1", "api_port": api_port})
    env = {**os.environ, **child.to_env(), "CAPE_LOG_LEVEL": log_level, "PYTHONUNBUFFERED": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(settings.data_dir.parent / "pycache")
    return env
