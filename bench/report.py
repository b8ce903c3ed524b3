"""Statistics and printing of the benchmark's figures."""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import temporalio

from bench.load import BARE_SHAPES, CAPE_ACTIVITIES, CAPE_AGENT, CAPE_STEPS, SHELL_SCRIPT, Round
from bench.procstat import MACHINE
from bench.stats import compact, pct, print_summary, spread, verdict
from cli import devserver


def print_round(index: int, rounds: Sequence[Round]) -> None:
    parts = []
    for r in rounds:
        unit = "tasks/s" if r.kind == "cape" else "wf/s"
        part = f"{r.kind} {r.rate:6.1f} {unit} (p50 {pct(r.latencies, 50) * 1000:.0f} ms)"
        if r.failures:
            part += f" FAILED {len(r.failures)}"
        parts.append(part)
    print(f"  repeat {index}: " + " | ".join(parts), flush=True)


def report(repeats: list[dict[str, Round]], sse_every: int, db_label: str) -> None:
    cape = [r["cape"] for r in repeats]
    bare = {a: [r[f"bare-{a}"] for r in repeats] for a in BARE_SHAPES}
    n = len(repeats)
    print(f"\nResults: median [min - max] over {n} repeat{'s' * (n > 1)}")
    rows: list[tuple[str, str]] = [
        ("CapeControl tasks/s", spread([r.rate for r in cape])),
    ]
    for a in BARE_SHAPES:
        rows.append((f"bare {a}-activity workflows/s", spread([r.rate for r in bare[a]])))
    rows.append(
        (
            "ratio cape / bare-3 (tasks per s)",
            spread([c.rate / b.rate for c, b in zip(cape, bare[3], strict=True)], "{:.2f}"),
        )
    )
    rows.append(
        (
            f"per-activity ratio: cape x{CAPE_ACTIVITIES} / bare-3 x3",
            spread(
                [c.activity_rate / b.activity_rate for c, b in zip(cape, bare[3], strict=True)],
                "{:.2f}",
            ),
        )
    )
    rows.append(
        (
            f"ratio cape / bare-{CAPE_ACTIVITIES} (same activity count)",
            spread(
                [c.rate / b.rate for c, b in zip(cape, bare[CAPE_ACTIVITIES], strict=True)],
                "{:.2f}",
            ),
        )
    )
    rows.append(("activities/s: cape", spread([r.activity_rate for r in cape])))
    for a in BARE_SHAPES:
        rows.append((f"activities/s: bare-{a}", spread([r.activity_rate for r in bare[a]])))
    rows.append(("cape task latency p50 ms", spread([pct(r.latencies, 50) * 1000 for r in cape])))
    rows.append(("cape task latency p95 ms", spread([pct(r.latencies, 95) * 1000 for r in cape])))
    for a in BARE_SHAPES:
        rows.append(
            (f"bare-{a} latency p50 ms", spread([pct(r.latencies, 50) * 1000 for r in bare[a]]))
        )
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")

    failures = sum(len(r.failures) for r in cape)
    if failures:
        print(f"  !! {failures} Cape tasks did not succeed, e.g. {cape[0].failures[:1]}")

    if sse_every:
        stats = [r.sse for r in cape if r.sse is not None]
        samples = sum(len(s.ms) for s in stats)
        backlog = sum(s.backlog for s in stats)
        streams = sum(s.streams for s in stats)
        print(
            f"\nStreaming latency, step-finished event ts (set in the activity's transaction, "
            f"before commit) -> SSE line at the client; {streams} streams (1 task in {sse_every}), "
            f"{samples} live events ({backlog} written before the stream opened, not counted)"
        )
        for q in (50, 95, 99):
            values = [pct(s.ms, q) for s in stats if s.ms]
            if values:
                print(f"  p{q:<3} ms  {spread(values)}")
        pooled = [v for s in stats for v in s.ms]
        if pooled:
            print(
                f"  pooled: p50 {pct(pooled, 50):.1f}  p95 {pct(pooled, 95):.1f}  "
                f"p99 {pct(pooled, 99):.1f}  max {max(pooled):.1f} ms"
            )
        step_kinds = sorted({kind for s in stats for kind in s.by_step})
        for kind in step_kinds:
            values = [v for s in stats for v in s.by_step.get(kind, [])]
            print(f"  {kind:>9} steps: p50 {pct(values, 50):.1f}  p95 {pct(values, 95):.1f} ms")

    print(
        "\nCPU per task / workflow (ms of CPU time, from /proc; median over repeats) and "
        "busy cores during the round"
    )
    kinds = {"cape": cape, **{f"bare-{a}": bare[a] for a in BARE_SHAPES}}
    names = [name for name in cape[-1].cpu if name != MACHINE]
    width = max(len(name) for name in [*names, MACHINE, "outside this benchmark"])
    print(f"  {'':<{width}}  " + "".join(f"{kind:>10}" for kind in kinds))

    def cpu_row(label: str, value: Callable[[Round], float], fmt: str = "{:10.1f}") -> None:
        cells = "".join(fmt.format(statistics.median(map(value, rs))) for rs in kinds.values())
        print(f"  {label:<{width}}  {cells}")

    def per_item(name: str) -> Callable[[Round], float]:
        return lambda r: r.cpu.get(name, 0.0) * 1000 / r.n

    for name in names:
        cpu_row(name, per_item(name))
    cpu_row(MACHINE, lambda r: r.cpu.get(MACHINE, 0.0) * 1000 / r.n)
    cpu_row(
        "outside this benchmark",
        lambda r: (r.cpu.get(MACHINE, 0.0) - sum(r.cpu.get(n, 0.0) for n in names)) * 1000 / r.n,
    )
    cpu_row("busy cores (machine)", lambda r: r.cpu.get(MACHINE, 0.0) / r.wall, "{:10.2f}")

    keys = list(cape[-1].breakdown)
    if keys:
        print("\nWhere a Cape task's server-side time goes (per-task medians, from its DB rows):")
        width = max(len(k) for k in keys)
        for key in keys:
            values = [r.breakdown[key] for r in cape if key in r.breakdown]
            unit = "" if key == "events per task" else " ms"
            print(f"  {key:<{width}}  {spread(values)}{unit}")
    summary(cape, bare, sse_every, db_label)


def summary(cape: list[Round], bare: dict[int, list[Round]], sse_every: int, db_label: str) -> None:
    """The compact table of the run (figures of issue 6, items 1 and 2)."""
    ratio3 = [c.rate / b.rate for c, b in zip(cape, bare[3], strict=True)]
    ratio5 = [c.rate / b.rate for c, b in zip(cape, bare[CAPE_ACTIVITIES], strict=True)]
    rows = [
        ("Cape tasks/s", compact([r.rate for r in cape]), ""),
        ("bare 3-activity workflows/s", compact([r.rate for r in bare[3]]), ""),
        (
            f"bare {CAPE_ACTIVITIES}-activity workflows/s",
            compact([r.rate for r in bare[CAPE_ACTIVITIES]]),
            "",
        ),
        (
            "ratio cape / bare-3",
            compact(ratio3, "{:.2f}"),
            f">= 0.8: {verdict(statistics.median(ratio3), 0.8, higher_is_better=True)}",
        ),
        (f"ratio cape / bare-{CAPE_ACTIVITIES}", compact(ratio5, "{:.2f}"), ""),
    ]
    stats = [r.sse for r in cape if r.sse is not None and r.sse.ms]
    if sse_every and stats:
        p95 = [pct(s.ms, 95) for s in stats]
        target = "<= 50 ms on PostgreSQL" + (
            f": {verdict(statistics.median(p95), 50)}" if "PostgreSQL" in db_label else ""
        )
        rows.append(("SSE p50 ms", compact([pct(s.ms, 50) for s in stats], "{:.0f}"), ""))
        rows.append(("SSE p95 ms", compact(p95, "{:.0f}"), target))
        rows.append(("SSE p99 ms", compact([pct(s.ms, 99) for s in stats], "{:.0f}"), ""))
    cpu = [r.cpu.get(MACHINE, 0.0) * 1000 / r.n for r in cape]
    rows.append(("machine CPU ms per Cape task", compact(cpu, "{:.0f}"), ""))
    failed = sum(len(r.failures) for r in cape)
    notes = [f"!! {failed} Cape tasks did not succeed"] if failed else []
    print_summary(f"throughput and streaming, {db_label}", rows, notes)


def print_header(args: argparse.Namespace, db_label: str, db_file: Path | None) -> None:
    version = subprocess.run(
        [str(devserver.temporal_binary()), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    temporal_db = (
        "in memory" if db_file is None else "file-backed SQLite in a temp dir (as `cape dev`)"
    )
    print("CapeControl throughput benchmark")
    print(
        f"  machine: {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, temporalio {temporalio.__version__}"
    )
    print(f"  Temporal: {version}; dev server {temporal_db}, tuned with cli.devserver.tuning_args")
    print(f"  app database: {db_label}")
    print(
        "  processes: temporal, fake LLM (`cape fake-llm`), Cape worker (`cape worker`), Cape API "
        "(`cape api`, uvicorn), bare worker (same Worker options); this process = load only"
    )
    awaited = {
        "wait": "GET /v1/tasks/{id}/wait",
        "temporal": "the workflow result from Temporal (as the baseline), then GET /wait",
        "sse": "its SSE stream to `end`, then GET /wait",
    }[args.await_via]
    print(
        f"  load: {args.tasks} tasks/workflows per round, {args.concurrency} concurrent "
        f"closed-loop clients, {args.repeat} repeats, {args.warmup} warm-up each; Cape: POST "
        f"/v1/tasks (agent `{CAPE_AGENT}`, model `script:{SHELL_SCRIPT.name}`, no LLM delay), "
        f"awaited via {awaited}; bare: start + result "
        "via the Temporal client"
    )
    print(
        f"  Cape task = {CAPE_STEPS} steps / {CAPE_ACTIVITIES} activities: workspace, LLM "
        "(asks for `shell echo ok`), shell in the sandbox, LLM (answer), finish_task. The loop "
        "ends with an LLM answer, so the issue's 3-step shape is compared two ways: bare-3 (as "
        "asked, plus a per-activity ratio) and bare-5 (same activity count)."
    )
