"""The benchmark's worker processes, with Worker options that can be overridden for tuning.

    python bench/workers.py cape                 # = `cape worker`
    python bench/workers.py bare ADDRESS QUEUE   # the bare baseline's workflows and activities

Both build their Temporal Workers with `worker.main.build_worker`, so they get the same options.
`BENCH_WORKER_OPTIONS` (JSON) overrides keyword arguments of every `temporalio.worker.Worker`
they create, to measure a tuning before it goes into worker/main.py or cape/settings.py:

    BENCH_WORKER_OPTIONS='{"max_cached_workflows": 2000, "max_concurrent_workflow_tasks": 500,
      "workflow_task_poller_behavior": {"autoscaling": {"maximum": 20}}}'

A `*_poller_behavior` value is `{"simple_maximum": N}` or `{"autoscaling": {minimum, maximum,
initial}}`; `workflow_runner` is `{"passthrough": ["workflows", "activities"]}` (the sandbox
imports those modules once instead of for every workflow run). Settings
(`CAPE_MAX_CONCURRENT_ACTIVITIES`, `CAPE_DB_POOL_*`, ...) come from the environment as usual.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/workers.py` puts bench/, not the root, first
    sys.path.insert(0, str(ROOT))

OPTIONS_ENV = "BENCH_WORKER_OPTIONS"


def worker_options() -> dict[str, Any]:
    """The Worker keyword arguments of BENCH_WORKER_OPTIONS (empty when unset)."""
    from temporalio.worker import PollerBehaviorAutoscaling, PollerBehaviorSimpleMaximum

    raw = json.loads(os.environ.get(OPTIONS_ENV) or "{}")
    if not isinstance(raw, dict):
        raise SystemExit(f"{OPTIONS_ENV} must be a JSON object")
    options: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "workflow_runner":  # {"passthrough": ["workflows", ...]}: import once
            from temporalio.worker.workflow_sandbox import (
                SandboxedWorkflowRunner,
                SandboxRestrictions,
            )

            modules = SandboxRestrictions.default.with_passthrough_modules(*value["passthrough"])
            value = SandboxedWorkflowRunner(restrictions=modules)
        elif key.endswith("_poller_behavior"):
            if "autoscaling" in value:
                value = PollerBehaviorAutoscaling(**value["autoscaling"])
            else:
                value = PollerBehaviorSimpleMaximum(maximum=value["simple_maximum"])
        options[key] = value
    return options


def patch_worker_options() -> dict[str, Any]:
    """Make worker.main build its Workers with the overrides; returns them."""
    from temporalio.worker import Worker

    import worker.main as cape_worker

    overrides = worker_options()
    if overrides:

        def tuned(*args: Any, **kwargs: Any) -> Worker:
            return Worker(*args, **{**kwargs, **overrides})

        # worker.main calls the name `Worker` it imported: rebind that name in its namespace.
        vars(cape_worker)["Worker"] = tuned
    return overrides


def run_cape_worker() -> None:
    """`cape worker` with the overrides (the CLI command exits the process itself)."""
    from cli.processes import worker

    patch_worker_options()
    worker.main(args=[], prog_name="cape worker")


def run_bare_worker(address: str, task_queue: str) -> None:
    """Serve the bare workflows with exactly the Cape worker's options."""
    from temporalio.client import Client

    import worker.main as cape_worker
    from bench.bare import BareWorkflow, SleepWorkflow, noop, sleep
    from cape.settings import Settings

    patch_worker_options()

    async def serve() -> None:
        client = await Client.connect(address)
        # build_worker reads these two module globals: pointing them at the bare workflows and
        # activities gives the baseline the Cape worker's options without copying them here.
        cape_worker.WORKFLOWS = (BareWorkflow, SleepWorkflow)
        cape_worker.build_activities = lambda *_: [noop, sleep]
        settings = Settings(temporal_address=address, task_queue=task_queue)
        bare = cape_worker.build_worker(client, settings, None, None)  # type: ignore[arg-type]
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


if __name__ == "__main__":
    if sys.argv[1:2] == ["cape"]:
        run_cape_worker()
    elif sys.argv[1:2] == ["bare"] and len(sys.argv) == 4:
        run_bare_worker(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit("usage: bench/workers.py cape | bare ADDRESS QUEUE")
