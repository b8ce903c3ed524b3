"""Long task: the Temporal history of a task of 500 steps.

    python bench/long_task.py [--turns 250] [--repeat 3] [--history-events-limit N]

One task of 2 x `--turns` steps: `--turns` LLM turns that each ask for `list_files` (a cheap
tool), each followed by that tool step, then the answering turn. The agent is registered for the
run (`bench-long`: only `list_files`, max_steps above the turns). The task may continue-as-new
(when the server suggests it, or past CAPE_HISTORY_EVENTS_LIMIT with `--history-events-limit`);
every run of its workflow id is read back through the Temporal client (`fetch_history`) and
printed: events, bytes (the events' protobuf size, what Temporal's limits count, and the length
of the history's JSON) and the largest event, per run and in total.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/long_task.py` puts bench/, not the root, first
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from temporalio.api.enums.v1 import EventType  # noqa: E402
from temporalio.client import Client  # noqa: E402

from bench.harness import Bench, add_common_args, bench_main, quick_defaults  # noqa: E402
from bench.services import start_services  # noqa: E402
from bench.stack import BenchError  # noqa: E402
from bench.stats import compact, print_summary  # noqa: E402
from cli.testing.scripts import Script, ScriptedToolCall, Turn  # noqa: E402

AGENT = "bench-long"
# Temporal's per-run limits (history.historyCountLimitWarn/Error, historySizeLimitWarn/Error).
WARN_EVENTS, LIMIT_EVENTS = 10_240, 51_200
WARN_MIB, LIMIT_MIB = 10, 50


@dataclass
class RunHistory:
    run_id: str
    events: int
    proto_bytes: int
    json_chars: int
    largest: tuple[int, str]  # protobuf bytes and type of the largest event
    continued: bool  # ended by continue-as-new


@dataclass
class Outcome:
    task_id: str
    status: str
    seconds: float
    steps: int
    runs: list[RunHistory] = field(default_factory=list)

    @property
    def events(self) -> int:
        return sum(r.events for r in self.runs)

    @property
    def proto_bytes(self) -> int:
        return sum(r.proto_bytes for r in self.runs)


def agent_spec(turns: int) -> dict[str, Any]:
    """The benchmark's agent: one cheap tool and room for every turn."""
    return {
        "name": AGENT,
        "version": "1.0.0",
        "description": "Benchmark agent: lists its workspace on every turn.",
        "system_prompt": "List the workspace when asked.",
        "tools": ["list_files"],
        "input_schema": {
            "type": "object",
            "required": ["prompt"],
            "properties": {"prompt": {"type": "string"}},
        },
        "limits": {"max_steps": turns + 10},
    }


def script(turns: int) -> Script:
    call = ScriptedToolCall(name="list_files", arguments={"path": "."})
    return Script(
        name="bench-long",
        turns=[Turn(tool_calls=[call]) for _ in range(turns)] + [Turn(content="Listed.")],
    )


async def histories(client: Client, workflow_id: str) -> list[RunHistory]:
    """Every run of `workflow_id`, oldest first, with its history's size."""
    runs = [wf async for wf in client.list_workflows(f'WorkflowId="{workflow_id}"')]
    runs.sort(key=lambda wf: wf.start_time)
    found = []
    for wf in runs:
        history = await client.get_workflow_handle(workflow_id, run_id=wf.run_id).fetch_history()
        sizes = [(event.ByteSize(), EventType.Name(event.event_type)) for event in history.events]
        last = history.events[-1].event_type if history.events else None
        found.append(
            RunHistory(
                run_id=wf.run_id,
                events=len(history.events),
                proto_bytes=sum(size for size, _ in sizes),
                json_chars=len(history.to_json()),
                largest=max(sizes, default=(0, "-")),
                continued=last == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
            )
        )
    return found


async def one_task(
    http: httpx.AsyncClient, client: Client, args: argparse.Namespace, label: str
) -> Outcome:
    body = {
        "agent": AGENT,
        "input": {"prompt": label},
        "model": "script:bench-long",
        "max_steps": args.turns + 1,
    }
    started = time.perf_counter()
    created = await http.post("/v1/tasks", json=body)
    if created.status_code != 201:
        raise BenchError(f"POST /v1/tasks: {created.status_code} {created.text}")
    task_id = created.json()["id"]
    while True:
        waited = await http.get(f"/v1/tasks/{task_id}/wait", params={"timeout": 60})
        if waited.status_code != 200:
            raise BenchError(f"GET /wait: {waited.status_code} {waited.text}")
        task = waited.json()
        if task["status"] not in ("queued", "running"):
            break
    seconds = time.perf_counter() - started
    steps = len((await http.get(f"/v1/tasks/{task_id}/steps")).json())
    outcome = Outcome(task_id, task["status"], seconds, steps)
    outcome.runs = await histories(client, task_id)
    return outcome


def print_outcome(index: int, o: Outcome) -> None:
    print(
        f"  repeat {index}: task {o.task_id} {o.status} in {o.seconds:.1f} s, {o.steps} steps, "
        f"{len(o.runs)} workflow run(s)"
    )
    for k, r in enumerate(o.runs, 1):
        end = "continued as new" if r.continued else "closed"
        print(
            f"    run {k} {r.run_id}: {r.events} events, {r.proto_bytes:,} bytes (protobuf), "
            f"{r.json_chars:,} chars (JSON); largest event {r.largest[0]:,} bytes "
            f"({r.largest[1]}); {end}"
        )
    print(
        f"    total: {o.events} events, {o.proto_bytes:,} bytes; per step "
        f"{o.events / max(o.steps, 1):.1f} events, {o.proto_bytes / max(o.steps, 1):,.0f} bytes",
        flush=True,
    )


async def run(args: argparse.Namespace, bench: Bench) -> None:
    tag = uuid.uuid4().hex[:8]
    update = {"history_events_limit": args.history_events_limit}
    services = await start_services(
        bench.stack, args, bench.workdir, tag, scripts=[script(args.turns)],
        settings_update=update, bare=False,
    )  # fmt: skip
    print("CapeControl long-task benchmark")
    print(f"  app database: {services.db_label}")
    print(
        f"  task: {args.turns} LLM turns each calling list_files, then an answer: "
        f"{2 * args.turns + 2} steps with the workspace; CAPE_HISTORY_EVENTS_LIMIT="
        f"{args.history_events_limit} (0: continue-as-new when the server suggests it)",
        flush=True,
    )
    headers = {"Authorization": f"Bearer {services.key}"}
    async with httpx.AsyncClient(base_url=services.api_url, headers=headers, timeout=120) as http:
        created = await http.post(
            "/v1/agents", params={"publish": "true"}, json=agent_spec(args.turns)
        )
        if created.status_code != 201:
            raise BenchError(f"POST /v1/agents: {created.status_code} {created.text}")
        outcomes = []
        for index in range(1, args.repeat + 1):
            outcome = await one_task(http, services.client, args, f"{tag} long task {index}")
            print_outcome(index, outcome)
            outcomes.append(outcome)
    report(outcomes, args, services.db_label)


def report(outcomes: list[Outcome], args: argparse.Namespace, db_label: str) -> None:
    largest_run = max((r for o in outcomes for r in o.runs), key=lambda r: r.events)
    run_mib = largest_run.proto_bytes / 2**20
    rows = [
        ("status", ", ".join(sorted({o.status for o in outcomes})), "succeeded"),
        ("steps", compact([o.steps for o in outcomes], "{:.0f}"), f"{2 * args.turns + 2}"),
        ("wall time s", compact([o.seconds for o in outcomes]), ""),
        ("workflow runs", compact([len(o.runs) for o in outcomes], "{:.0f}"), ""),
        ("history events (all runs)", compact([o.events for o in outcomes], "{:.0f}"), ""),
        (
            "history KiB (all runs, protobuf)",
            compact([o.proto_bytes / 1024 for o in outcomes], "{:.0f}"),
            "",
        ),
        (
            "largest run: events / KiB",
            f"{largest_run.events} / {largest_run.proto_bytes / 1024:.0f}",
            f"warn at {WARN_EVENTS:,} events / {WARN_MIB} MiB, fail at {LIMIT_EVENTS:,} / "
            f"{LIMIT_MIB} MiB ({largest_run.events / WARN_EVENTS:.0%} / "
            f"{run_mib / WARN_MIB:.1%} of warn)",
        ),
        (
            "largest event bytes",
            f"{max(r.largest for o in outcomes for r in o.runs)[0]:,}",
            "2 MiB per payload",
        ),
        (
            "events per step",
            compact([o.events / max(o.steps, 1) for o in outcomes]),
            "",
        ),
        (
            "seconds per step",
            compact([o.seconds / max(o.steps, 1) for o in outcomes], "{:.3f}"),
            "",
        ),
    ]
    print(f"\n  median wall time {statistics.median(o.seconds for o in outcomes):.1f} s")
    print_summary(f"long task, {args.turns} tool turns, {db_label}", rows)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="History size and events of a task of hundreds of steps.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--turns", type=int, default=250, help="LLM turns that call a tool")
    parser.add_argument("--repeat", type=int, default=3, help="tasks, one after another")
    parser.add_argument(
        "--history-events-limit",
        type=int,
        default=0,
        help="CAPE_HISTORY_EVENTS_LIMIT of the run (0: continue-as-new when Temporal suggests)",
    )
    quick_defaults(parser, turns=20, repeat=1)
    add_common_args(parser)
    args = parser.parse_args()
    if args.turns < 1 or args.repeat < 1 or args.history_events_limit < 0:
        parser.error("--turns and --repeat must be at least 1, --history-events-limit >= 0")
    return args


if __name__ == "__main__":
    bench_main(parse_args, run)
