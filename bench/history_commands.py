"""What a workflow's patch checks and search-attribute upserts cost the Temporal server.

Every first `workflow.patched(id)` of a run records a `core_patch` marker and (the SDK's core
does this itself) upserts the `TemporalChangeVersion` search attribute; the agent task's status
is upserted as `CapeStatus`. This runs bare 5-activity workflows with none, with `--extra`
patch checks and with `--extra` upserts, alternated round by round against one dev server and
one in-process worker, and prints the server's CPU per workflow and the events per history.

`.venv/bin/python bench/history_commands.py [--workflows 300] [--rounds 3] [--extra 4]`
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
if str(ROOT) not in sys.path:  # `python bench/history_commands.py` puts bench/ first
    sys.path.insert(0, str(ROOT))

from temporalio.client import Client  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

from bench.bare import COMMANDS_WORKFLOW_NAME, CommandsWorkflow, noop  # noqa: E402
from bench.load import closed_loop  # noqa: E402
from bench.procstat import proc_cpu_seconds  # noqa: E402
from bench.stack import Stack, free_port  # noqa: E402
from cape.search_attributes import ensure_search_attributes  # noqa: E402
from cli import devserver  # noqa: E402

ACTIVITIES = 5
BASELINE = f"{ACTIVITIES} activities"


async def one_round(
    client: Client, queue: str, shape: list[int], n: int, concurrency: int
) -> list[str]:
    """Run `n` workflows of `shape` from `concurrency` closed-loop clients; returns their ids."""
    ids = [f"cmd-{uuid.uuid4().hex[:12]}" for _ in range(n)]

    async def one(i: int) -> None:
        await client.execute_workflow(COMMANDS_WORKFLOW_NAME, shape, id=ids[i], task_queue=queue)

    await closed_loop(n, concurrency, one)
    return ids


async def main(args: argparse.Namespace) -> None:
    """Start the dev server and a worker, then time each shape's rounds."""
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(Path(tmp) / "logs")
        port = free_port()
        server_args = devserver.dev_server_args(
            port=port, ui_port=None, db_file=Path(tmp) / "temporal.db"
        )
        server = stack.start("temporal", [str(devserver.temporal_binary()), *server_args])
        try:
            client = await devserver.wait_for_temporal(f"127.0.0.1:{port}")
            await ensure_search_attributes(client, "default")
            queue = f"commands-{uuid.uuid4().hex[:8]}"
            shapes = {
                BASELINE: [ACTIVITIES, 0, 0],
                f"+ {args.extra} patch checks": [ACTIVITIES, args.extra, 0],
                f"+ {args.extra} upserts": [ACTIVITIES, 0, args.extra],
            }
            cpu: dict[str, list[float]] = {name: [] for name in shapes}
            events: dict[str, int] = {}
            async with Worker(
                client, task_queue=queue, workflows=[CommandsWorkflow], activities=[noop]
            ):
                for shape in shapes.values():  # warm-up, untimed
                    await one_round(client, queue, shape, 20, args.concurrency)
                for index in range(args.rounds):
                    for name, shape in shapes.items():
                        await asyncio.sleep(1)  # let the server finish the last round's tasks
                        before, started = proc_cpu_seconds(server.popen.pid), time.perf_counter()
                        ids = await one_round(
                            client, queue, shape, args.workflows, args.concurrency
                        )
                        spent = proc_cpu_seconds(server.popen.pid) - before
                        cpu[name].append(spent * 1000 / args.workflows)
                        wall = time.perf_counter() - started
                        print(
                            f"round {index + 1} {name:>20}: server CPU {cpu[name][-1]:6.1f} ms"
                            f"/workflow, {args.workflows / wall:5.1f} workflows/s",
                            flush=True,
                        )
                        if name not in events:
                            history = await client.get_workflow_handle(ids[0]).fetch_history()
                            events[name] = len(history.events)
            # The server's cost per workflow drifts up as its database grows, round by round: each
            # shape is compared with the baseline of its own round.
            base = cpu[BASELINE]
            print(f"\nTemporal server CPU per workflow, {args.rounds} rounds, median [min-max]:")
            for name, values in cpu.items():
                diffs = [value - base[index] for index, value in enumerate(values)]
                print(
                    f"  {name:>20}: {statistics.median(values):6.1f} ms"
                    f" [{min(values):.1f}-{max(values):.1f}]; against its round's baseline"
                    f" {statistics.median(diffs):+.1f} ms [{min(diffs):+.1f} to {max(diffs):+.1f}];"
                    f" {events[name]} history events"
                )
        finally:
            stack.stop_all()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=300, help="workflows per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each shape")
    parser.add_argument("--extra", type=int, default=4, help="patch checks or upserts added")
    parser.add_argument("--concurrency", type=int, default=20, help="workflows at once")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
