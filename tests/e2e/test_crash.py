"""A worker process SIGKILLed mid-task: a new worker finishes every task, each step exactly once.

The worker runs as a real subprocess (`cape worker`), the API in-process. After the kill, the
running activities miss their heartbeats (timeout 2 s), Temporal retries them on the new worker,
and the step recorder makes the retries idempotent: a step whose completion was written but never
reported returns the stored output; one that was interrupted runs again as the next attempt.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from cape.db.engine import create_engine, readonly_session_factory
from cape.db.models import TaskEvent, TaskStep
from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Script, ScriptedToolCall, Turn, create_app
from tests.conftest import Api
from tests.harness import (
    check_exactly_once,
    log_tail,
    paced,
    read_sse,
    serving,
    spawn,
    stop_process,
    stored,
    wait_until,
)

LIMIT = 60.0  # every wait of these tests is bounded by this
KINDS = ["workspace", "llm", "tool", "llm", "tool", "llm"]
LLM_TURNS = {2: 0, 4: 1, 6: 2}  # step_no -> turn index of the script


def two_files_script(name: str, *, first_delay: float, last_delay: float) -> Script:
    """LLM (write a) -> tool -> LLM (write b) -> tool -> LLM answer."""

    def write(path: str) -> ScriptedToolCall:
        return ScriptedToolCall(
            name="write_file", arguments={"path": path, "content": f"{name}: {path}"}
        )

    return Script(
        name=name,
        turns=[
            Turn(
                content=f"First I write notes/a.txt for {name}, one small piece at a time.",
                tool_calls=[write("notes/a.txt")],
                delay_seconds=first_delay,
            ),
            Turn(tool_calls=[write("notes/b.txt")]),
            Turn(
                content=f"Done for {name}: notes/a.txt and notes/b.txt are written.",
                delay_seconds=last_delay,
            ),
        ],
    )


@dataclass
class Snapshot:
    """The recorded steps and events of the tasks, read in one go."""

    steps: list[TaskStep]
    events: list[TaskEvent]


@asynccontextmanager
async def snapshots(
    settings: Settings, task_ids: Sequence[str]
) -> AsyncIterator[Callable[[], Awaitable[Snapshot]]]:
    """A reader of the tasks' current steps and events over one engine (no write lock)."""
    engine = create_engine(settings)
    sessions = readonly_session_factory(engine)

    async def read() -> Snapshot:
        async with sessions() as session:
            steps = await session.scalars(select(TaskStep).where(TaskStep.task_id.in_(task_ids)))
            events = await session.scalars(
                select(TaskEvent)
                .where(TaskEvent.task_id.in_(task_ids))
                .order_by(TaskEvent.task_id, TaskEvent.seq)
            )
            return Snapshot(list(steps), list(events))

    try:
        yield read
    finally:
        await engine.dispose()


async def start_tasks(api: Api, names: Sequence[str], stagger: float) -> list[str]:
    ids = []
    for name in names:
        created = await api.http.post(
            "/v1/tasks",
            json={
                "agent": "assistant",
                "input": {"prompt": "two notes"},
                "model": f"script:{name}",
            },
        )
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
        await asyncio.sleep(stagger)
    return ids


async def crash_and_recover(
    api: Api,
    settings: Settings,
    log: Path,
    names: Sequence[str],
    stagger: float,
    victim: Callable[[Snapshot], tuple[str, int] | None],
) -> tuple[list[str], tuple[str, int]]:
    """Start the tasks on a worker process, SIGKILL it once `victim` names a running step
    (task id, step_no), start a new worker, and wait for every task to end."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(spawn("worker", settings, log))
        ids = await start_tasks(api, names, stagger)
        async with snapshots(settings, ids) as read:

            async def probe() -> tuple[str, int] | None:
                return victim(await read())

            hit = await wait_until(probe, "a step to run on the first worker", LIMIT, 0.02)
        os.kill(procs[0].pid, signal.SIGKILL)
        assert procs[0].wait(LIMIT) == -signal.SIGKILL
        procs.append(spawn("worker", settings, log))

        async def wait(task_id: str) -> str:
            reply = await api.http.get(
                f"/v1/tasks/{task_id}/wait", params={"timeout": LIMIT}, timeout=LIMIT + 10
            )
            assert reply.status_code == 200, reply.text
            return str(reply.json()["status"])

        statuses = await asyncio.gather(*(wait(task_id) for task_id in ids))
        assert statuses == ["succeeded"] * len(ids), log_tail(log)
        return ids, hit
    except BaseException:
        print(log_tail(log))
        raise
    finally:
        for proc in procs:
            stop_process(proc)


async def check_task(
    api: Api, fake_llm: FakeLLMServer, settings: Settings, task_id: str, name: str
) -> dict[int, list[int]]:
    """Everything a crash must not break, for one finished task; returns attempts per step."""
    steps, events = await stored(settings, task_id)
    attempts = check_exactly_once(steps, events, KINDS)
    script = fake_llm.registry.get(name)
    assert script is not None

    calls = fake_llm.calls(name)
    for step_no, turn in LLM_TURNS.items():
        # Each LLM request follows its attempt's step-started: a step whose completion was
        # recorded is never asked again, an interrupted one at most once per attempt.
        assert 1 <= calls.get(turn, 0) <= len(attempts[step_no]), (step_no, calls, attempts)
        mine = [e for e in events if e.step_no == step_no]
        assert [e.type for e in mine].count("assistant-message") == 1
        # A retried step streams again from its new step-started: the text after it is whole.
        last_start = max(i for i, e in enumerate(mine) if e.type == "step-started")
        text = "".join(e.data["text"] for e in mine[last_start:] if e.type == "token-delta")
        assert text == (script.turns[turn].content or ""), (step_no, text)
    for step_no in (3, 5):
        results = [e for e in events if e.step_no == step_no and e.type == "tool-result"]
        assert len(results) == 1 and results[0].data["ok"], results

    workspace = Path(settings.workspace_root) / task_id
    for path in ("notes/a.txt", "notes/b.txt"):
        assert (workspace / path).read_text() == f"{name}: {path}"
    finished = (await api.http.get(f"/v1/tasks/{task_id}")).json()
    assert finished["output"] == {"answer": script.turns[2].content}
    assert finished["last_event_seq"] == len(events)

    # The stream, read after the fact: every stored event exactly once, in order, then `end`.
    messages = await read_sse(api.http, f"/v1/tasks/{task_id}/events", limit=LIMIT)
    data = [m for m in messages if "id" in m]
    assert [int(m["id"]) for m in data] == [e.seq for e in events]
    assert [m["data"]["type"] for m in data] == [e.type for e in events]
    assert messages[-1]["event"] == "end"
    assert messages[-1]["data"]["data"] == {"status": "succeeded", "last_seq": len(events)}
    return attempts


async def test_sigkill_worker_mid_step_every_task_succeeds_exactly_once(
    api: Api, fake_llm: FakeLLMServer, settings: Settings, tmp_path: Path
) -> None:
    names = [f"crash-{i}-{uuid.uuid4().hex[:6]}" for i in range(5)]
    for name in names:
        fake_llm.add_script(two_files_script(name, first_delay=1.5, last_delay=1.0))

    def last_turn_running(snap: Snapshot) -> tuple[str, int] | None:
        # The first task is in its last LLM turn; the others, started later, are mid-way.
        running = [s for s in snap.steps if s.status == "running" and s.step_no == 6]
        return (running[0].task_id, running[0].step_no) if running else None

    ids, (victim, step_no) = await crash_and_recover(
        api, settings, tmp_path / "worker.log", names, 0.4, last_turn_running
    )
    attempts = {task_id: await check_task(api, fake_llm, settings, task_id, name)
                for task_id, name in zip(ids, names, strict=True)}  # fmt: skip
    # The step that was running when the worker died ran again as attempt 2 (attempt 1 may
    # have died before or after its request reached the LLM: check_task bounds the calls).
    assert attempts[victim][step_no] == [1, 2], attempts[victim]


async def test_sigkill_worker_while_llm_streams_resumes_the_turn(
    api: Api, fake_llm: FakeLLMServer, settings: Settings, tmp_path: Path
) -> None:
    names = [f"stream-{i}-{uuid.uuid4().hex[:6]}" for i in range(3)]
    for name in names:
        fake_llm.add_script(two_files_script(name, first_delay=0.0, last_delay=0.0))

    def streaming(snap: Snapshot) -> tuple[str, int] | None:
        # Some token deltas of a turn are recorded, its step-finished is not.
        finished = {(e.task_id, e.step_no) for e in snap.events if e.type == "step-finished"}
        deltas: dict[tuple[str, int | None], int] = {}
        for e in snap.events:
            if e.type == "token-delta" and (e.task_id, e.step_no) not in finished:
                deltas[e.task_id, e.step_no] = deltas.get((e.task_id, e.step_no), 0) + 1
        for (task_id, step_no), count in deltas.items():
            if count >= 2 and step_no is not None:
                return task_id, step_no
        return None

    # The same scripts, streamed a chunk every 0.15 s: each turn streams for a second or two.
    slow = create_app(fake_llm.registry, chunk_size=8)
    async with serving(paced(slow, 0.15)) as url:
        slow_settings = settings.model_copy(update={"openai_base_url": f"{url}/v1"})
        ids, (victim, step_no) = await crash_and_recover(
            api, slow_settings, tmp_path / "worker.log", names, 0.3, streaming
        )
    attempts = {task_id: await check_task(api, fake_llm, settings, task_id, name)
                for task_id, name in zip(ids, names, strict=True)}  # fmt: skip
    assert attempts[victim][step_no] == [1, 2], attempts[victim]
    _, events = await stored(settings, victim)
    mine = [e for e in events if e.step_no == step_no]
    restart = [i for i, e in enumerate(mine) if e.type == "step-started"][1]
    # Attempt 1's partial text stays in the log (clients reset the step on step-started).
    assert any(e.type == "token-delta" for e in mine[:restart])
    assert fake_llm.calls(names[ids.index(victim)])[LLM_TURNS[step_no]] == 2
