"""Whether a worker polls the locks' task queue: a lock request must not hang without one.

A lock is a workflow, so every acquire, renew and release needs a worker. Before an update is
sent, Temporal's poller list of the task queue is read (`DescribeTaskQueue`, cached a few
seconds while a worker is seen): no poller seen within `POLLER_FRESH` (looking again for up to
`FIRST_POLL_SECONDS`: a worker that is just starting polls within that) answers 503
`no_worker`, and nothing is sent. An update that a worker does not answer within
`CAPE_LOCK_WORKER_TIMEOUT_SECONDS` (a worker that died since its last poll) is 503 too.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from cape.errors import NoWorker
from cape.settings import Settings

# A live worker renews its long polls (about a minute each), so its last access is recent;
# Temporal keeps a dead worker's entry for minutes, this tells the two apart.
POLLER_FRESH = timedelta(seconds=90)
SEEN_CACHE_SECONDS = 5.0  # a worker seen this recently is not asked about again
DESCRIBE_TIMEOUT = timedelta(seconds=5)
FIRST_POLL_SECONDS = 2.0
LOOK_EVERY = 0.2
_seen: dict[tuple[str, str], float] = {}


async def polled_at(client: Client, queue: str) -> datetime | None:
    """The latest moment a worker polled `queue` for workflow tasks; None if none is listed."""
    reply = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        ),
        timeout=DESCRIBE_TIMEOUT,
    )
    times = [p.last_access_time.ToDatetime(tzinfo=UTC) for p in reply.pollers]
    return max(times, default=None)


def no_worker(settings: Settings, waited: float | None = None) -> NoWorker:
    """The 503 of a lock request that no worker would answer."""
    queue = settings.task_queue
    if waited is None:
        message = f"no worker is polling the task queue {queue!r}: start `cape worker`"
    else:
        message = (
            f"no worker answered the lock within {waited:g} s (task queue {queue!r}): "
            "is `cape worker` running?"
        )
    return NoWorker(message, details={"task_queue": queue, "reason": "no_worker"})


async def require_worker(client: Client, settings: Settings) -> None:
    """Return when a worker polled the task queue lately; raise `NoWorker` (503) otherwise."""
    key = (client.service_client.config.target_host, settings.task_queue)
    if time.monotonic() - _seen.get(key, float("-inf")) < SEEN_CACHE_SECONDS:
        return
    ends = time.monotonic() + min(FIRST_POLL_SECONDS, settings.lock_worker_timeout_seconds)
    while True:
        last = await polled_at(client, settings.task_queue)
        if last is not None and datetime.now(UTC) - last <= POLLER_FRESH:
            _seen[key] = time.monotonic()
            return
        if time.monotonic() >= ends:
            _seen.pop(key, None)
            raise no_worker(settings)
        await asyncio.sleep(LOOK_EVERY)
