"""In-step time of the throughput task's two host steps, run in-process: no Temporal, no LLM.

Run: python bench/steps.py [--runs 30] [--warmup 3] [--concurrency 1] [--db sqlite|postgres]
                           [--ballast-mb 250] [--profile FILE]

Per run a fresh task row, then `setup_workspace` and `run_tool` (`shell` with `echo ok`) run
through the worker's own activity objects (`TaskActivities`, `ToolActivities`) in Temporal's
`ActivityEnvironment`, with the real sandbox (bubblewrap, cgroups), a real migrated database,
the artifact store and the step recorder: exactly what the worker runs for those steps, minus
the Temporal round trip. Prints the median, p95 and min of each step's wall time, the worker
process's CPU per step and the longest event-loop stall within a step (both only per step at
`--concurrency 1`), and at `--concurrency 1` the SQL statements and transactions of each step;
`--concurrency C` keeps C tasks in flight, as a busy worker does. The
process holds `--ballast-mb` of touched memory, so it forks like a worker of that size.
`--profile` writes a cProfile of the timed runs (read it with `python -m pstats FILE`).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import json
import os
import resource
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/steps.py` puts bench/, not the root, first
    sys.path.insert(0, str(ROOT))

from sqlalchemy import event  # noqa: E402
from temporalio.testing import ActivityEnvironment  # noqa: E402

from activities.task import TaskActivities  # noqa: E402
from activities.tools.run import ToolActivities  # noqa: E402
from activities.types import StepRef, ToolCall, ToolInput, WorkspaceInput  # noqa: E402
from bench.appdb import PG_ADMIN, fresh_database  # noqa: E402
from cape.artifacts import ArtifactStore  # noqa: E402
from cape.db.engine import create_engine, session_factory  # noqa: E402
from cape.db.models import Task  # noqa: E402
from cape.domain import StepKind  # noqa: E402
from cape.sandbox.launcher import Sandbox  # noqa: E402
from cape.settings import Settings  # noqa: E402


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Rig:
    """The worker's activity objects on one database and data directory."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = create_engine(settings)
        self.sessions = session_factory(self.engine)
        sandbox = Sandbox(settings)
        store = ArtifactStore(self.sessions, settings.artifact_root)
        self.task = TaskActivities(self.sessions, settings, sandbox, store)
        self.tools = ToolActivities(self.sessions, settings, sandbox, store)
        self.env = ActivityEnvironment()

    async def new_task(self) -> str:
        task_id = f"bench-{uuid.uuid4().hex[:12]}"
        async with self.sessions.begin() as session:
            session.add(
                Task(
                    id=task_id,
                    agent="engineer",
                    agent_version="0",
                    owner="bench",
                    team_id="team_bench",
                    status="queued",
                    input={},
                    model="bench",
                    max_steps=10,
                )
            )
        return task_id

    async def setup(self, task_id: str) -> str:
        ref = StepRef(task_id, 1, "workspace", StepKind.WORKSPACE)
        inp = WorkspaceInput(ref, "bench", "in-step time of the host steps")
        result = await self.env.run(self.task.setup_workspace, inp)
        return result.path

    async def shell(self, task_id: str, workspace: str) -> None:
        ref = StepRef(task_id, 3, "shell", StepKind.TOOL)
        call = ToolCall("call-1", "shell", json.dumps({"command": "echo ok"}))
        result = await self.env.run(self.tools.run_tool, ToolInput(ref, workspace, call))
        assert result.ok and "ok" in result.content, result.content


async def measure(
    rig: Rig, runs: int, warmup: int, concurrency: int, profiler: cProfile.Profile | None
) -> None:
    names = ["setup_workspace", "run_tool shell `echo ok`"]
    sql: Counter[str] = Counter()  # statements and transactions, at --concurrency 1 per step
    engine = rig.engine.sync_engine
    event.listen(engine, "before_cursor_execute", lambda *_: sql.update(["statements"]))
    event.listen(engine, "begin", lambda conn: sql.update(["transactions"]))
    counts: dict[str, list[Counter[str]]] = {name: [] for name in names}
    times: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    stalls: dict[str, list[float]] = {name: [] for name in names}
    longest = [0.0]

    async def watch_loop() -> None:
        # The longest the event loop went without running a ready task: what every other
        # task of a worker waits while this step blocks it.
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.001)
            longest[0] = max(longest[0], loop.time() - before - 0.001)

    def used() -> float:
        # All threads of this process (the worker's CPU), not the sandboxed children's.
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    async def timed(name: str, step: Callable[[], Awaitable[object]], keep: bool) -> object:
        started, cpu_started = time.perf_counter(), used()
        longest[0] = 0.0
        sql.clear()
        if profiler is not None and keep:
            profiler.enable()
        try:
            return await step()
        finally:
            if profiler is not None and keep:
                profiler.disable()
            if keep:
                times[name].append(time.perf_counter() - started)
                cpu[name].append(used() - cpu_started)
                stalls[name].append(longest[0])
                counts[name].append(Counter(sql))

    async def client(count: int, keep: bool) -> None:
        for _ in range(count):
            task_id = await rig.new_task()
            setup = functools.partial(rig.setup, task_id)
            workspace = await timed("setup_workspace", setup, keep)
            assert isinstance(workspace, str)
            shell = functools.partial(rig.shell, task_id, workspace)
            await timed("run_tool shell `echo ok`", shell, keep)

    watcher = asyncio.ensure_future(watch_loop())
    await client(warmup, keep=False)
    shares = [runs // concurrency + (i < runs % concurrency) for i in range(concurrency)]
    await asyncio.gather(*(client(share, keep=True) for share in shares))
    watcher.cancel()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"in-step times over {runs} runs, {concurrency} at once (ms), load average {load}"
        + ("" if concurrency == 1 else "; CPU and stalls overlap, not per step")
    )
    for name, values in times.items():
        ms = [v * 1e3 for v in values]
        print(
            f"  {name:<26} p50 {statistics.median(ms):7.1f}  p95 {percentile(ms, 0.95):7.1f}"
            f"  min {min(ms):7.1f}  worker CPU p50 {statistics.median(cpu[name]) * 1e3:6.1f}"
            f"  longest loop stall p50 {statistics.median(stalls[name]) * 1e3:6.1f}"
        )
    if concurrency == 1:
        for name in names:
            statements = statistics.median(c["statements"] for c in counts[name])
            transactions = statistics.median(c["transactions"] for c in counts[name])
            print(f"  {name:<26} SQL statements {statements:.0f}, transactions {transactions:.0f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--concurrency", type=int, default=1, help="tasks in flight at once, like a worker's"
    )
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg-admin-url", default=PG_ADMIN)
    parser.add_argument(
        "--ballast-mb",
        type=int,
        default=250,
        help="touched memory to give this process a worker's RSS (forks cost by size)",
    )
    parser.add_argument("--profile", type=Path, help="write a cProfile of the timed runs here")
    args = parser.parse_args()
    ballast = bytearray(args.ballast_mb * 2**20)
    for offset in range(0, len(ballast), 4096):
        ballast[offset] = 1  # touched, so it is resident like a worker's heap
    with fresh_database(args.db, args.pg_admin_url, "cape-bench-steps-") as settings:
        rig = Rig(settings)
        profiler = cProfile.Profile() if args.profile else None
        try:
            await measure(rig, args.runs, args.warmup, args.concurrency, profiler)
        finally:
            await rig.engine.dispose()
        if profiler is not None:
            profiler.dump_stats(args.profile)


if __name__ == "__main__":
    asyncio.run(main())
