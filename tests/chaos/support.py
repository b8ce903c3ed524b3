"""Shared pieces of the fault-injection tests: restartable processes, waits and the loss audit.

Every chaos test ends the same way: wait (by reading the app database, which outlives any API,
worker or Temporal restart) until every task is terminal, then `audit` each task: it succeeded,
its steps are 1..N each recorded once and succeeded, its event seqs are 1..M without a gap,
its dedupe keys are unique and each step's events appear once per run. The numbers go into a
`Tally` whose summary line is printed and carried by the assertion message.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select

from cape.db.engine import create_engine, readonly_session_factory
from cape.db.models import Task, TaskEvent, TaskStep
from cape.settings import Settings
from tests.e2e.test_crash import snapshots
from tests.harness import check_exactly_once, log_tail, spawn, stop_process, wait_until

LIMIT = 90.0  # the bound of every wait in the chaos tests
SEED = 20240611  # one seed for the whole folder: a failure replays with the same choices
TERMINAL = {"succeeded", "failed", "canceled", "timed_out", "rejected"}
# The payload events of a step: exactly one per step (in its last run), whatever crashed.
PAYLOAD_ONCE = {"llm": ("assistant-message",), "tool": ("tool-result",)}


def rng(scenario: str) -> random.Random:
    """A deterministic random source per scenario."""
    return random.Random(f"{SEED}:{scenario}")


def chaos_settings(settings: Settings, **update: object) -> Settings:
    """The test's settings, with retries that outlast the faults the tests inject.

    The per-test defaults give up after 5 attempts 0.2 s apart; a step that a crash interrupts
    several times, or that waits out an outage, needs more room (each kill costs one attempt).
    """
    values: dict[str, object] = {
        "retry_max_attempts": 12,
        # Subprocess logs as JSON lines: the console renderer's tracebacks with locals cost
        # a busy worker seconds of CPU per cancelled activity (and so its heartbeats).
        "log_json": True,
    }
    return settings.model_copy(update={**values, **update})


@dataclass
class Tally:
    """The numbers one chaos test reports: tasks, injected faults, lost tasks, and extras."""

    scenario: str
    tasks: int = 0
    faults: int = 0
    lost: int = 0
    extra: dict[str, int] = field(default_factory=dict)
    problems: dict[str, list[str]] = field(default_factory=dict)

    def line(self) -> str:
        """The one-line summary, e.g. `chaos worker-kill: tasks=50 faults=4 lost=0 ...`."""
        extras = " ".join(f"{k}={v}" for k, v in self.extra.items())
        head = f"chaos {self.scenario}: tasks={self.tasks} faults={self.faults} lost={self.lost}"
        return f"{head} {extras}".rstrip()

    def report(self) -> str:
        """Print the summary (and the problems of lost tasks); returns the assertion message."""
        print(self.line())
        details = "\n".join(f"  {task}: {'; '.join(p)}" for task, p in self.problems.items())
        if details:
            print(details[:8000])
        return f"{self.line()}\n{details[:8000]}"


# --- processes ----------------------------------------------------------------------------------


class Fleet:
    """The `cape worker` / `cape api` subprocesses of one test, stopped for sure at its end."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.started: Counter[str] = Counter()

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def start(self, name: str, command: str, settings: Settings) -> subprocess.Popen[bytes]:
        """Start (or start again) the process `name` running `cape <command>`."""
        old = self.procs.get(name)
        assert old is None or old.poll() is not None, f"{name} is still running"
        self.procs[name] = spawn(command, settings, self.log(name))
        self.started[name] += 1
        return self.procs[name]

    def kill(self, name: str) -> None:
        """SIGKILL the process `name` and reap it."""
        proc = self.procs[name]
        assert proc.poll() is None, f"{name} died on its own:\n{log_tail(self.log(name))}"
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(LIMIT) == -signal.SIGKILL

    def freeze(self, name: str, frozen: bool = True) -> None:
        """SIGSTOP (or SIGCONT) the process `name`: a stalled host, not a dead one."""
        assert self.alive(name), f"{name} died:\n{log_tail(self.log(name))}"
        os.kill(self.procs[name].pid, signal.SIGSTOP if frozen else signal.SIGCONT)

    def alive(self, name: str) -> bool:
        return self.procs[name].poll() is None

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)  # a frozen process cannot act on SIGTERM
            stop_process(proc, signal.SIGTERM)

    def tails(self) -> str:
        return "\n".join(f"--- {n} ---\n{log_tail(self.log(n), 3000)}" for n in self.procs)


@contextmanager
def fleet(logs: Path) -> Iterator[Fleet]:
    """A `Fleet` whose processes stop when the block ends; their logs are printed on failure."""
    procs = Fleet(logs)
    try:
        yield procs
    except BaseException:
        print(procs.tails())
        raise
    finally:
        procs.close()


# --- waiting and auditing -----------------------------------------------------------------------


class Probe:
    """Cheap reads of the tasks' progress over one engine (no write lock on SQLite)."""

    def __init__(self, settings: Settings, ids: Sequence[str]) -> None:
        self.ids = list(ids)
        self.engine = create_engine(settings)
        self.sessions = readonly_session_factory(self.engine)

    async def count(self, type_: str) -> int:
        """How many events of `type_` the tasks have."""
        async with self.sessions() as session:
            query = select(func.count()).where(TaskEvent.task_id.in_(self.ids))
            return int(await session.scalar(query.where(TaskEvent.type == type_)) or 0)

    async def statuses(self) -> dict[str, str]:
        """Each task's status."""
        async with self.sessions() as session:
            rows = await session.execute(select(Task.id, Task.status).where(Task.id.in_(self.ids)))
            return {task_id: status for task_id, status in rows}

    async def ended(self) -> bool:
        """Whether every task is terminal."""
        found = await self.statuses()
        return all(found.get(i) in TERMINAL for i in self.ids)

    async def close(self) -> None:
        await self.engine.dispose()


@asynccontextmanager
async def probe(settings: Settings, ids: Sequence[str]) -> AsyncIterator[Probe]:
    """A `Probe` for the block."""
    reader = Probe(settings, ids)
    try:
        yield reader
    finally:
        await reader.close()


async def wait_count(
    settings: Settings, ids: Sequence[str], type_: str, count: int, what: str
) -> None:
    """Wait until the tasks have at least `count` events of `type_` (bounded by LIMIT)."""
    async with probe(settings, ids) as reader:

        async def enough() -> bool:
            return await reader.count(type_) >= count

        await wait_until(enough, what, LIMIT, 0.1)


async def statuses(settings: Settings, ids: Sequence[str]) -> dict[str, str]:
    """The tasks' statuses as the app database holds them (one short-lived engine)."""
    async with probe(settings, ids) as reader:
        return await reader.statuses()


async def wait_terminal(
    settings: Settings, ids: Sequence[str], limit: float = LIMIT
) -> dict[str, str]:
    """Wait until every task has a terminal status in the database; returns the statuses.

    On timeout returns what there is: the audit then reports the unfinished tasks as lost.
    """
    end = time.monotonic() + limit
    while True:
        found = await statuses(settings, ids)
        if all(found.get(i) in TERMINAL for i in ids) or time.monotonic() > end:
            return found
        await asyncio.sleep(0.25)


def audit_task(
    status: str | None, steps: list[TaskStep], events: list[TaskEvent], kinds: Sequence[str]
) -> list[str]:
    """What is wrong with one finished task (empty when nothing was lost or doubled)."""
    if status != "succeeded":
        last = events[-1].data if events else None
        return [f"status {status!r}, last event {last}"]
    problems: list[str] = []
    try:
        check_exactly_once(steps, events, list(kinds))
    except AssertionError as exc:
        log = " ".join(f"{e.seq}:{e.step_no}:{e.type}@{e.data.get('attempt', '')}" for e in events)
        problems.append(f"exactly-once: {str(exc)[:300]} | events {log[:1500]}")
    keys = Counter(e.dedupe_key for e in events if e.dedupe_key is not None)
    doubled = [k for k, n in keys.items() if n > 1]
    if doubled:
        problems.append(f"duplicate dedupe keys {doubled}")
    if len({(s.task_id, s.step_no) for s in steps}) != len(steps):
        problems.append("a step_no is recorded twice")
    for step in steps:
        mine = [e for e in events if e.step_no == step.step_no]
        starts = [i for i, e in enumerate(mine) if e.type == "step-started"]
        last_run = mine[starts[-1] :] if starts else mine
        for type_ in PAYLOAD_ONCE.get(step.kind, ()):
            if [e.type for e in last_run].count(type_) != 1:
                problems.append(f"step {step.step_no}: {type_} not exactly once in its last run")
    return problems


async def audit(
    settings: Settings, ids: Sequence[str], kinds: Sequence[str] | None, tally: Tally
) -> dict[str, tuple[list[TaskStep], list[TaskEvent]]]:
    """Audit every task into `tally` (lost, problems, steps/events/retries counted).

    Args:
        settings: Where the app database is.
        ids: The tasks of the test.
        kinds: The expected step kinds, or None to accept each task's own (checked by the test).
        tally: Receives the numbers.

    Returns:
        Each task's steps and events, for the test's own further checks.
    """
    found = await statuses(settings, ids)
    async with snapshots(settings, ids) as read:
        snap = await read()
    by_task: dict[str, tuple[list[TaskStep], list[TaskEvent]]] = {i: ([], []) for i in ids}
    for step in sorted(snap.steps, key=lambda s: s.step_no):
        by_task[step.task_id][0].append(step)
    for event in snap.events:
        by_task[event.task_id][1].append(event)
    tally.tasks = len(ids)
    retried = 0
    for task_id, (steps, events) in by_task.items():
        expected = kinds if kinds is not None else [s.kind for s in steps]
        problems = audit_task(found.get(task_id), steps, events, expected)
        if problems:
            tally.problems[task_id] = problems
        retried += sum(1 for s in steps if s.attempt > 1)
    tally.lost = len(tally.problems)
    tally.extra["steps"] = len(snap.steps)
    tally.extra["events"] = len(snap.events)
    tally.extra["steps_retried"] = retried
    return by_task
