"""Worker CPU per workflow run in the sandbox: our packages imported per run, or passed through.

Run: python bench/workflow_runs.py [--rounds 10] [--pairs 3]

Replays the committed replay corpus (`tests/replay/histories/*.json`, one history per task
shape) in-process with `Replayer`, which creates each workflow in the sandbox and runs every
activation of its history as a worker does after a cache miss: no server, no activities.

`worker` is the worker's runner (`worker.observe.workflow_runner`): our `workflows` modules are
imported afresh in every run, so the sandbox checks every call they make. `passed through` also
passes `workflows`, `activities` and `cape` through, which the worker does not do: a workflow
module passed through may call `datetime.now()`, `time.time()`, `random` or read `os.environ`
unnoticed (docs/performance.md, sixth round). The two alternate `--pairs` times; each figure is
the process CPU of `--rounds` passes over the corpus divided by the workflows replayed. Prints
each pass and the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import resource
import sys
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/workflow_runs.py` puts bench/, not the root, first
    sys.path.insert(0, str(ROOT))

from temporalio.client import WorkflowHistory  # noqa: E402
from temporalio.worker import Replayer  # noqa: E402
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner  # noqa: E402

from bench.pairs import alternate, medians  # noqa: E402
from worker.observe import workflow_runner  # noqa: E402
from workflows.agent_task import AgentTaskWorkflow  # noqa: E402

CORPUS = ROOT / "tests" / "replay" / "histories"


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def replay(
    runner: SandboxedWorkflowRunner, histories: list[WorkflowHistory], rounds: int
) -> float:
    """CPU milliseconds per replayed workflow over `rounds` passes of `histories`."""
    replayer = Replayer(workflows=[AgentTaskWorkflow], workflow_runner=runner)

    async def each() -> AsyncIterator[WorkflowHistory]:
        for _ in range(rounds):
            for history in histories:
                yield history

    started = cpu()
    await replayer.replay_workflows(each(), raise_on_replay_failure=True)
    return (cpu() - started) * 1000 / (rounds * len(histories))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="passes over the corpus per figure")
    parser.add_argument("--pairs", type=int, default=3, help="worker/passed-through alternations")
    args = parser.parse_args()
    paths = sorted(CORPUS.glob("*.json"))
    histories = [WorkflowHistory.from_json(p.stem, p.read_text()) for p in paths]
    worker = workflow_runner()
    through = worker.restrictions.with_passthrough_modules("workflows", "activities", "cape")
    runners = {
        "worker": worker,
        "passed through": SandboxedWorkflowRunner(restrictions=through),
    }
    for runner in runners.values():  # imports and first-use caches outside the figures
        await replay(runner, histories, 1)
    runs = {
        name: functools.partial(replay, runner, histories, args.rounds)
        for name, runner in runners.items()
    }
    figures = await alternate(runs, args.pairs, "ms CPU per workflow run")
    sys.stdout.write(
        f"{len(histories)} histories x {args.rounds} rounds, median of {args.pairs}: "
        f"{medians(figures)}\n"
    )


if __name__ == "__main__":
    asyncio.run(main())
