"""`cape worker --processes 2`: both processes run the tasks' steps, SIGTERM stops them all.

The worker is the real command (a supervisor and two `cape worker` children) against the
session's dev server; the API runs in-process. Which process ran a step is the identity
(`pid@host`) Temporal records on each started activity.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from activities.task import host_queue
from cape.settings import Settings
from cli.supervisor import RestartPolicy
from cli.testing.fake_llm import FakeLLMServer, Turn
from cli.workers import WorkerProcesses, child_env, worker_processes
from tests.conftest import Api
from tests.e2e.test_tasks_api import eventually, script, start, wait_end
from tests.harness import ROOT, settings_env

TASKS = 10


async def pollers(client: Client, queue: str) -> set[str]:
    """The identities polling `queue` for activities."""
    reply = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        )
    )
    return {poller.identity for poller in reply.pollers}


async def step_runners(client: Client, task_id: str) -> set[str]:
    """The identities of the workers that started the task's activities."""
    history = await client.get_workflow_handle(task_id).fetch_history()
    return {
        event.activity_task_started_event_attributes.identity
        for event in history.events
        if event.HasField("activity_task_started_event_attributes")
    }


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_two_processes_both_run_steps_and_stop_together_on_sigterm(
    api: Api, client: Client, fake_llm: FakeLLMServer, settings: Settings, tmp_path: Path
) -> None:
    log = (tmp_path / "worker.log").open("ab")
    proc = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "cli", "worker", "--processes", "2"],
        env=settings_env(settings),
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    children: set[int] = set()
    try:

        async def both_polling() -> set[str] | None:
            found = await pollers(client, settings.task_queue)
            return found if len(found) == 2 else None

        identities = await eventually(both_polling, timeout=60, every=0.2)
        # Both poll the host's own queue too: any of them may run its workspaces' steps.
        assert await pollers(client, host_queue(settings)) == identities
        children = {int(identity.split("@", 1)[0]) for identity in identities}
        assert proc.pid not in children

        model = script(fake_llm, Turn(content="done", delay_seconds=0.3), prefix="procs")
        tasks = [await start(api.http, model) for _ in range(TASKS)]
        ended = [await wait_end(api.http, task["id"], timeout=60) for task in tasks]
        assert [task["status"] for task in ended] == ["succeeded"] * TASKS
        ran = set[str]().union(*[await step_runners(client, task["id"]) for task in tasks])
        assert ran == identities, (ran, identities)

        # A child that dies is started again; the other goes on.
        assert children_of(proc.pid) == children
        victim = min(children)
        os.kill(victim, signal.SIGKILL)

        async def replaced() -> set[int] | None:
            now = children_of(proc.pid)
            return now if len(now) == 2 and victim not in now else None

        children = await eventually(replaced, timeout=30, every=0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 60)
        log.close()
    assert code == 0, (tmp_path / "worker.log").read_text()[-3000:]
    assert all(gone(pid) for pid in children)


def children_of(pid: int) -> set[int]:
    """The live child processes of `pid` (Linux /proc)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(c) for c in (task / "children").read_text().split())
    return found


def test_how_many_processes_and_each_one_s_share_of_the_pool() -> None:
    settings = Settings(worker_processes=0, db_pool_size=20, db_max_overflow=5)
    assert worker_processes(settings, 3) == 3  # --processes wins
    assert worker_processes(settings.model_copy(update={"worker_processes": 4}), None) == 4
    assert worker_processes(settings, None) == len(os.sched_getaffinity(0))  # one per core
    env = child_env(settings, 3, 1)
    assert env["CAPE_DB_POOL_SIZE"] == "7" and env["CAPE_DB_MAX_OVERFLOW"] == "2"
    assert env["CAPE_WORKER_PROCESSES"] == "1" and env["CAPE_WORKER_INDEX"] == "1"


def test_a_process_that_keeps_exiting_makes_the_command_give_up() -> None:
    policy = RestartPolicy(max_restarts=2, window_seconds=60, backoff_seconds=0.01)
    group = WorkerProcesses(Settings(), 2, None, policy)
    group.argv = [sys.executable, "-c", "raise SystemExit(3)"]  # a worker that cannot start
    assert group.run() == 1
    assert all(len(times) <= 2 for times in group.restarts)
    assert all(child is None or child.poll() is not None for child in group.children)
