"""What a sandboxed `true` costs over a bare subprocess `true`.

Run: python bench/sandbox.py [--runs 200] [--warmup 20] [--repeats 3] [--modes bwrap,unsafe-rlimits]

Each repeat times `--runs` bare `asyncio.create_subprocess_exec("true")` (+ wait) and
`--runs` `Sandbox.run(["true"])` per mode, one after another, after untimed warm-up runs (the
first sandbox run also probes bwrap). A sandboxed run includes everything `run` does: the
per-run memory and pids cgroups (create, join, remove), the privilege drop, the bwrap mount
namespace setup, output handling and the check that nothing is left. Prints plain text.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from cape.logs import configure_logging
from cape.sandbox.launcher import Sandbox
from cape.settings import Settings


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def bare() -> None:
    proc = await asyncio.create_subprocess_exec("true")
    await proc.wait()


async def timed(step: Callable[[], Awaitable[None]], runs: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        await step()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await step()
        times.append(time.perf_counter() - started)
    return times


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--modes", default="bwrap,unsafe-rlimits")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cape-bench-sandbox-") as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", log_level="WARNING")
        configure_logging(settings)
        workspace = settings.workspace_root / "bench"
        sandboxes = {}
        for mode in args.modes.split(","):
            sandboxes[mode] = Sandbox(settings.model_copy(update={"sandbox_mode": mode}))
            sandboxes[mode].prepare_workspace(workspace)

        def sandboxed(sandbox: Sandbox) -> Callable[[], Awaitable[None]]:
            limits = sandbox.limits()

            async def step() -> None:
                result = await sandbox.run(["true"], workspace=workspace, limits=limits)
                assert result.ok, result.output

            return step

        print(f"sandboxed `true` vs bare subprocess `true`, {args.runs} runs each (ms)")
        for repeat in range(1, args.repeats + 1):
            base = await timed(bare, args.runs, args.warmup)
            b50, b95 = percentile(base, 0.5) * 1e3, percentile(base, 0.95) * 1e3
            print(f"repeat {repeat}: bare        p50 {b50:7.2f}  p95 {b95:7.2f}")
            for mode, sandbox in sandboxes.items():
                times = await timed(sandboxed(sandbox), args.runs, args.warmup)
                s50, s95 = percentile(times, 0.5) * 1e3, percentile(times, 0.95) * 1e3
                last = await sandbox.run(["true"], workspace=workspace, limits=sandbox.limits())
                isolation = last.isolation
                print(
                    f"repeat {repeat}: {mode:<11} p50 {s50:7.2f}  p95 {s95:7.2f}  "
                    f"overhead p50 {s50 - b50:+7.2f}  p95 {s95 - b95:+7.2f}  "
                    f"mean {statistics.fmean(times) * 1e3:7.2f}  "
                    f"(level {isolation.level}, memory cgroup {isolation.memory_cgroup}, "
                    f"pids cgroup {isolation.pids_cgroup})"
                )


if __name__ == "__main__":
    asyncio.run(main())
