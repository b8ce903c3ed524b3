"""`cape replay`: replay workflow histories (files or the server's) against the current code.

A history replays when today's workflow code, fed its events, issues the same commands in the
same order; one that does not would fail its task's next workflow task on a worker running this
code. Temporal and the workflow modules are imported late, so `cape --help` stays cheap.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cli.formatting import echo_json, one_line
from cli.processes import load_settings
from cli.terminal import echo

if TYPE_CHECKING:
    from temporalio.api.history.v1 import HistoryEvent
    from temporalio.client import WorkflowHistory
    from temporalio.runtime import Runtime
    from temporalio.worker import Replayer

FETCH_CONCURRENCY = 8
# The SDK core wraps its reasons in a Rust debug dump; each reason is a quoted `message`.
_CORE_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')
_CORE_PREFIX = re.compile(r"^\[TMPRL\d+\]\s*(?:Nondeterminism error:\s*)?")
_EVENT_ID = re.compile(r"HistoryEvent\(id: (\d+)")
_EVENT_NAME = re.compile(r"scheduled event '([^']*)'|patch marker encountered for change ([^,\s]+)")


class InputError(click.ClickException):
    """Unusable input (a file, the query, the server): exit status 2, no traceback."""

    exit_code = 2


@dataclass(frozen=True)
class Loaded:
    """A history to replay, the ids to report it under and where it came from."""

    history: WorkflowHistory
    workflow_id: str
    run_id: str
    source: str


@dataclass
class Outcome:
    """How one history replayed; `status` is ok, non_deterministic or failed."""

    workflow_id: str
    run_id: str
    source: str
    status: str = "ok"
    message: str | None = None
    event_id: int | None = None
    event: str | None = None
    workflow_task_event_id: int | None = None

    def line(self) -> str:
        """The one-line human report."""
        if self.status == "ok":
            return f"ok  {self.workflow_id}"
        where = ""
        if self.event_id is not None:
            where = f"event {self.event_id} {self.event or ''}".rstrip() + ": "
        elif self.workflow_task_event_id is not None:
            where = f"workflow task completed at event {self.workflow_task_event_id}: "
        return f"FAIL {self.workflow_id} run {self.run_id}: {where}{self.message}"


def load_file(path: Path) -> Loaded:
    """One exported history, named by the file's workflow id, else its stem (or InputError)."""
    from temporalio.client import WorkflowHistory

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read it: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        raise InputError(f"{path}: not a workflow history (no 'events' list)")
    events: list[Any] = data["events"]
    started = events[0].get("workflowExecutionStartedEventAttributes") if events else None
    own_id = data.get("workflowId") or data.get("workflow_id")
    if not own_id and isinstance(started, dict):
        own_id = started.get("workflowId")
    try:
        history = WorkflowHistory.from_json(str(own_id or path.stem), data)
        run_id = history.run_id
    except Exception as exc:  # protobuf's ParseError, or no start event
        raise InputError(f"{path}: not a workflow history: {one_line(str(exc), 200)}") from exc
    return Loaded(history, history.workflow_id, run_id, str(path))


def history_files(paths: Sequence[Path]) -> list[Path]:
    """The files named and every *.json under the directories named, in a stable order."""
    files: list[Path] = []
    for path in paths:
        found = sorted(p for p in path.rglob("*.json") if p.is_file()) if path.is_dir() else [path]
        if not found:
            raise InputError(f"{path}: no *.json histories under this directory")
        files.extend(found)
    return files


async def fetch(query: str, limit: int) -> list[Loaded]:
    """The histories of the workflows `query` lists; InputError if the server fails us."""
    from temporalio.client import Client
    from temporalio.service import RPCError

    settings = load_settings()
    address, namespace = settings.temporal_address, settings.temporal_namespace
    try:
        client = await Client.connect(address, namespace=namespace, runtime=quiet_runtime())
    except Exception as exc:  # the SDK raises a bare RuntimeError for a failed connect
        raise InputError(f"cannot reach Temporal at {address}: {one_line(str(exc), 300)}") from exc
    try:
        found = [e async for e in client.list_workflows(query, limit=limit)]
    except RPCError as exc:
        raise InputError(f"listing workflows ({query!r}) in {namespace!r} failed: {exc}") from exc
    gate = asyncio.Semaphore(FETCH_CONCURRENCY)

    async def one(workflow_id: str, run_id: str) -> Loaded:
        async with gate:
            handle = client.get_workflow_handle(workflow_id, run_id=run_id)
            try:
                history = await handle.fetch_history()
            except RPCError as exc:
                raise InputError(f"fetching the history of {workflow_id} failed: {exc}") from exc
        return Loaded(history, workflow_id, run_id, f"{address}/{namespace}")

    return list(await asyncio.gather(*(one(e.id, e.run_id) for e in found)))


@cache
def quiet_runtime() -> Runtime:
    """A Temporal runtime without core's log lines: each failure is reported here instead."""
    from temporalio.runtime import Runtime, TelemetryConfig

    return Runtime(telemetry=TelemetryConfig(logging=None, metrics=None))


async def replay_all(loaded: Sequence[Loaded], workflows: Sequence[type]) -> list[Outcome]:
    """Replay every history through one replayer, then locate each non-determinism."""
    from temporalio.worker import Replayer
    from temporalio.workflow import NondeterminismError

    replayer = Replayer(workflows=list(workflows), runtime=quiet_runtime())

    async def histories() -> AsyncIterator[WorkflowHistory]:
        for item in loaded:
            yield item.history

    # The replayer takes the histories one at a time, so results come in the order given.
    async with replayer.workflow_replay_iterator(histories()) as results:
        failures = [result.replay_failure async for result in results]
    outcomes = []
    for item, error in zip(loaded, failures, strict=True):
        outcome = Outcome(item.workflow_id, item.run_id, item.source)
        if error is not None:
            outcome.message, outcome.status = reason(error), "failed"
            if isinstance(error, NondeterminismError):
                outcome.status = "non_deterministic"
                await locate(replayer, item.history, outcome)
        outcomes.append(outcome)
    return outcomes


def reason(error: BaseException) -> str:
    """The replay failure's own words (and its causes'), without the SDK core's wrapping."""
    text = str(error)
    if found := _CORE_MESSAGE.findall(text):
        text = ": ".join(_CORE_PREFIX.sub("", m.replace('\\"', '"')) for m in found if m)
    return one_line(text or type(error).__name__, 500)


async def locate(replayer: Replayer, history: WorkflowHistory, outcome: Outcome) -> None:
    """Record in `outcome` the event (or at least the workflow task) replay diverged at.

    Core names the event id for some mismatches only. Otherwise the history is cut after each
    workflow task's commands: the first cut that fails (found by bisection) is the task whose
    commands differ, and within it the event the message names is the one reported.
    """
    from temporalio.api.enums.v1 import EventType
    from temporalio.client import WorkflowHistory

    events = list(history.events)
    if named_id := _EVENT_ID.search(outcome.message or ""):
        outcome.event_id = int(named_id.group(1))
        match = [e for e in events if e.event_id == outcome.event_id]
        outcome.event = event_info(match[0])[0] if match else None
        return
    kinds = [e.event_type for e in events] + [EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED]
    tasks = [i for i, k in enumerate(kinds) if k == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED]
    # A task's commands end where the next task is scheduled (the sentinel: the history's end).
    ends = [kinds.index(EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, i) for i in tasks]

    async def fails(k: int) -> bool:
        cut = WorkflowHistory(history.workflow_id, events[: ends[k]])
        result = await replayer.replay_workflow(cut, raise_on_replay_failure=False)
        return result.replay_failure is not None

    if not tasks or not await fails(len(tasks) - 1):
        return
    low, high = 0, len(tasks) - 1
    while low < high:
        mid = (low + high) // 2
        low, high = (low, mid) if await fails(mid) else (mid + 1, high)
    outcome.workflow_task_event_id = events[tasks[low]].event_id
    name = _EVENT_NAME.search(outcome.message or "")
    wanted = (name.group(1) or name.group(2)) if name else None
    for event in events[tasks[low] + 1 : ends[low]]:
        label, known = event_info(event)
        if wanted and wanted in known:
            outcome.event_id, outcome.event = event.event_id, label
            return


def event_info(event: HistoryEvent) -> tuple[str, set[str]]:
    """`ActivityTaskScheduled setup_workspace`, and the names core may quote for the event."""
    from temporalio.api.enums.v1 import EventType

    kind = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
    label = "".join(part.capitalize() for part in kind.split("_"))
    found: set[str] = set()
    if event.HasField("activity_task_scheduled_event_attributes"):
        activity = event.activity_task_scheduled_event_attributes
        label += f" {activity.activity_type.name}"
        found |= {activity.activity_type.name, activity.activity_id}
    if event.HasField("timer_started_event_attributes"):
        found.add(event.timer_started_event_attributes.timer_id)
    if event.HasField("marker_recorded_event_attributes"):
        marker = event.marker_recorded_event_attributes
        label += f" {marker.marker_name}"
        # A `workflow.patched` marker carries {"id": <patch id>, "deprecated": ...}.
        for payload in (p for ps in marker.details.values() for p in ps.payloads):
            with suppress(ValueError):
                patch = json.loads(payload.data)
                if isinstance(patch, dict) and "id" in patch:
                    label += f" {patch['id']}"
                    found.add(str(patch["id"]))
    return label, found


async def replay_from(loaded: list[Loaded], query: str | None, limit: int) -> list[Outcome]:
    """Replay the histories given, or those of the workflows `query` lists."""
    import worker.main

    if query:
        loaded = await fetch(query, limit)
        if not loaded:
            echo(f"no workflow matches {query!r}", err=True)
    # Read at call time, so the types registered now (or patched in a test) are the ones used.
    return await replay_all(loaded, worker.main.WORKFLOWS) if loaded else []


@click.command()
@click.argument(
    "paths", nargs=-1, type=click.Path(exists=True, path_type=Path), metavar="[FILE_OR_DIR]..."
)
@click.option("--query", default=None, help="Replay the workflows this visibility query lists.")
@click.option("--limit", type=click.IntRange(min=1), default=100, help="--query: at most N (100).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def replay(paths: tuple[Path, ...], query: str | None, limit: int, as_json: bool) -> None:
    """Replay workflow histories against the current workflow code.

    Give history files or directories (searched for *.json, as `temporal workflow show -o json`
    exports them), or --query to replay the server's workflows (TEMPORAL_ADDRESS and
    TEMPORAL_NAMESPACE), e.g. --query "CapeAgent='assistant'". Exits 0 when every history
    replays, 1 when any is non-deterministic or fails, 2 on unusable input.
    """
    if bool(paths) == bool(query):
        raise click.UsageError("give history files or directories, or --query (not both)")
    loaded = [] if query else [load_file(path) for path in history_files(paths)]
    outcomes = asyncio.run(replay_from(loaded, query, limit))
    counts = {s: sum(o.status == s for o in outcomes) for s in ("non_deterministic", "failed")}
    if as_json:
        echo_json({"replayed": len(outcomes), **counts, "histories": [asdict(o) for o in outcomes]})
    else:
        for outcome in outcomes:
            echo(outcome.line())
        summary = f"{len(outcomes)} replayed, {counts['non_deterministic']} non-deterministic"
        echo(summary + (f", {counts['failed']} failed" if counts["failed"] else ""))
    raise click.exceptions.Exit(1 if any(counts.values()) else 0)


COMMANDS = [replay]
