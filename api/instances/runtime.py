"""`GET /v1/runtime`: the workers polling the task queue, its backlog, the team's instances.

The worker and backlog figures are the task queue's, shared by every team (counts only, never
a worker's identity); the instances are the caller's team's.
"""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.api.enums.v1 import DescribeTaskQueueMode, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

from api.instances.schemas import RuntimeOut, WorkersOut
from api.instances.views import states
from cape.settings import Settings

log = structlog.get_logger(__name__)


async def _queue(
    temporal: Client, settings: Settings, kind: TaskQueueType.ValueType
) -> tuple[int, int | None]:
    """The pollers of one type of the task queue and its approximate backlog."""
    request = DescribeTaskQueueRequest(
        namespace=settings.temporal_namespace,
        task_queue=TaskQueue(name=settings.task_queue),
        task_queue_type=kind,
        report_stats=True,
        api_mode=DescribeTaskQueueMode.DESCRIBE_TASK_QUEUE_MODE_UNSPECIFIED,
    )
    response = await temporal.workflow_service.describe_task_queue(request)
    backlog = response.stats.approximate_backlog_count if response.HasField("stats") else None
    return len(response.pollers), backlog


async def runtime(
    session: AsyncSession, temporal: Client, settings: Settings, team_id: str
) -> RuntimeOut:
    """The runtime as the caller's team sees it."""
    counts, inbox = await states(session, team_id)
    workflow_pollers = activity_pollers = 0
    backlog: int | None = None
    try:
        workflow_pollers, wf_backlog = await _queue(
            temporal, settings, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
        )
        activity_pollers, act_backlog = await _queue(
            temporal, settings, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY
        )
        if wf_backlog is not None or act_backlog is not None:
            backlog = (wf_backlog or 0) + (act_backlog or 0)
    except RPCError as exc:
        log.warning("task queue not described", error=str(exc))
    return RuntimeOut(
        workers=WorkersOut(
            task_queue=settings.task_queue,
            workflow_pollers=workflow_pollers,
            activity_pollers=activity_pollers,
        ),
        instances=counts,
        inbox_backlog=inbox,
        queue_backlog=backlog,
    )
