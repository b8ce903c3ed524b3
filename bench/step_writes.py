"""Worker CPU of a task's step-boundary writes, in-process: no Temporal, no LLM, no sandbox.

Run: python bench/step_writes.py [--tasks 200] [--repeat 3] [--db sqlite|postgres]

Per task: a fresh `queued` row, then four step boundaries through the worker's own
`StepRecorder` (`start`, then `finish` with one extra event and token usage, as an LLM step
writes them) and the task's `record_finish`, each in Temporal's `ActivityEnvironment` and through
`cape.db.writes.write` exactly as the worker runs them (on SQLite: the whole transaction on a
writer thread). Prints the process CPU (user + system, every thread) per task: median of the
tasks of a repeat, then the median [min-max] over repeats. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/step_writes.py` puts bench/, not the root, first
    sys.path.insert(0, str(ROOT))

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402
from temporalio.testing import ActivityEnvironment  # noqa: E402

from activities.recorder import StepRecorder  # noqa: E402
from activities.types import StepRef, Usage  # noqa: E402
from bench.appdb import PG_ADMIN, fresh_database  # noqa: E402
from cape.db.engine import create_engine, session_factory  # noqa: E402
from cape.db.finish import record_finish  # noqa: E402
from cape.db.models import Task  # noqa: E402
from cape.db.writes import write  # noqa: E402
from cape.domain import Channel, StepKind, TaskStatus  # noqa: E402

STEPS = 4
MESSAGE = {"message": {"role": "assistant", "content": "ok"}}


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def one_task(sessions: async_sessionmaker[AsyncSession], env: ActivityEnvironment) -> float:
    """Write one task's step boundaries and finish; the process CPU it took (s)."""
    recorder = StepRecorder(sessions)
    task_id = f"bench-{uuid.uuid4().hex[:12]}"
    async with sessions.begin() as session:
        session.add(
            Task(id=task_id, agent="engineer", agent_version="0", owner="bench",
                 team_id="team_bench", status="running", input={}, model="bench", max_steps=10)
        )  # fmt: skip
    started = cpu()
    for step_no in range(1, STEPS + 1):
        ref = StepRef(task_id, step_no, f"step {step_no}", StepKind.LLM)

        async def boundary(ref: StepRef = ref) -> None:
            await recorder.start(ref, {"step": ref.step_no})
            await recorder.finish(
                ref, MESSAGE, usage=Usage(10, 5, 0.001),
                events=[(Channel.LIFECYCLE, "llm-delta", {"text": "ok"})],
            )  # fmt: skip

        await env.run(boundary)

    def finish(session: Session) -> bool:
        return record_finish(
            session, task_id, status=TaskStatus.SUCCEEDED, run_id="bench", output={"answer": "ok"}
        )

    await env.run(write, sessions, finish)
    return cpu() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200, help="timed tasks per repeat")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg-admin-url", default=PG_ADMIN)
    args = parser.parse_args()
    with fresh_database(args.db, args.pg_admin_url, "cape-bench-writes-") as settings:
        engine = create_engine(settings)
        sessions, env = session_factory(engine), ActivityEnvironment()
        medians: list[float] = []
        try:
            for _ in range(args.warmup):
                await one_task(sessions, env)
            for run in range(args.repeat):
                used = [await one_task(sessions, env) for _ in range(args.tasks)]
                medians.append(statistics.median(used) * 1e3)
                print(f"  repeat {run + 1}: {medians[-1]:.2f} ms of CPU per task")
        finally:
            await engine.dispose()
    print(
        f"step writes ({args.db}, {STEPS} step boundaries + finish per task): "
        f"{statistics.median(medians):.2f} [{min(medians):.2f}-{max(medians):.2f}] ms CPU per task"
    )


if __name__ == "__main__":
    asyncio.run(main())
