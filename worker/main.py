"""The worker process: registers the workflow and every activity, shuts down gracefully."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.worker import Worker

from activities.channels import Messenger
from activities.checks import CheckActivities
from activities.delegation import DelegationActivities
from activities.events import EventActivities
from activities.guide import GuideActivities
from activities.instances import InstanceActivities
from activities.llm import LlmActivities
from activities.locks import LockActivities
from activities.reassign import ReassignActivities
from activities.task import TaskActivities, host_queue
from activities.task_locks import TaskLockActivities
from activities.tools.run import ToolActivities
from cape.artifacts import ArtifactStore
from cape.db.engine import create_engine, readonly_session_factory, session_factory
from cape.llm.pricing import PriceTable
from cape.llm.providers import Providers, any_configured, missing_setting
from cape.sandbox.launcher import Sandbox
from cape.search_attributes import ensure_search_attributes
from cape.settings import Settings
from worker.events import TaskEventPublisher
from worker.group import WorkerGroup
from worker.instances import InstanceDeliverer
from worker.observe import connect, worker_options
from worker.retention import sweep_forever
from workflows.agent_task import AgentTaskWorkflow
from workflows.event_routing import EventRoutingWorkflow
from workflows.instances import InstanceWorkflow
from workflows.locks import LockWorkflow

log = structlog.get_logger(__name__)
WORKFLOWS: Sequence[type] = (
    AgentTaskWorkflow,
    EventRoutingWorkflow,
    LockWorkflow,
    InstanceWorkflow,
)
# Activities that touch a workspace also run on this host's own task queue (a delegated task
# sharing its parent's workspace sets its own up there).
HOST_ACTIVITIES = {"run_tool", "setup_workspace"}


def build_activities(
    settings: Settings, engine: Any, provider: Providers, client: Client
) -> list[Any]:
    """Every activity callable, bound to its resources (`client`: events and lock holders)."""
    sessions = session_factory(engine)
    publisher = TaskEventPublisher(sessions, client, settings)
    sandbox = Sandbox(settings)
    store = ArtifactStore(sessions, settings.artifact_root)
    task = TaskActivities(sessions, settings, sandbox, store)
    llm = LlmActivities(
        sessions,
        readonly_session_factory(engine),
        provider,
        settings.token_coalesce_ms / 1000,
        PriceTable(settings),
    )
    tools = ToolActivities(
        sessions, settings, sandbox, store, publisher, Messenger(sessions, client)
    )
    checks = CheckActivities(sessions)
    guide = GuideActivities(sessions, settings.docs_dir)
    events = EventActivities(sessions, settings, InstanceDeliverer(client, settings))
    locks = LockActivities(sessions, client)
    task_locks = TaskLockActivities(sessions, settings, client)
    reassign = ReassignActivities(sessions, settings)
    instances = InstanceActivities(sessions, settings, client)
    delegation = DelegationActivities(sessions, settings)
    return [
        task.setup_workspace,
        task.restore_workspace,
        task.finish_task,
        task.mark_task,
        task.record_event,
        llm.call_llm,
        tools.run_tool,
        checks.check_output,
        guide.answer_from_docs,
        events.route_event,
        locks.save_lock,
        locks.watch_holder,
        task_locks.request_lock,
        task_locks.await_lock,
        task_locks.renew_lock,
        task_locks.release_lock,
        task_locks.withdraw_lock,
        reassign.reassign,
        instances.prepare_task,
        instances.await_task,
        instances.save_instance,
        delegation.prepare_delegation,
        delegation.collect_child,
    ]


def build_worker(
    client: Client, settings: Settings, engine: AsyncEngine, provider: Providers
) -> WorkerGroup:
    """Workers on the shared task queue and on this host's own queue (its workspaces' steps)."""
    activities = build_activities(settings, engine, provider, client)
    options: dict[str, Any] = {
        # LLM calls are I/O-bound and may each wait seconds: the default of 100 would cap
        # concurrency far below what one process handles.
        "max_concurrent_activities": settings.max_concurrent_activities,
        "graceful_shutdown_timeout": timedelta(seconds=10),
        **worker_options(engine),
    }
    shared = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=list(WORKFLOWS),
        activities=activities,
        max_concurrent_workflow_tasks=200,
        **options,
    )
    local = [a for a in activities if getattr(a, "__name__", "") in HOST_ACTIVITIES]
    if not local:
        return WorkerGroup([shared])
    host = Worker(client, task_queue=host_queue(settings), activities=local, **options)
    return WorkerGroup([shared, host])


async def run_worker(settings: Settings) -> None:
    """Connect, run until SIGINT/SIGTERM, then shut down and release resources."""
    client = await connect(settings)
    await ensure_search_attributes(client, settings.temporal_namespace)
    engine = create_engine(settings)
    provider = Providers(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    worker = build_worker(client, settings, engine, provider)
    if (warning := await Sandbox(settings).startup_warning()) is not None:
        log.warning("tool sandbox degraded", detail=warning)
    log.info(
        "worker started",
        task_queue=settings.task_queue,
        host_queue=host_queue(settings),
        host_label=settings.host_label,  # how steps and errors name this host
        temporal=settings.temporal_address,
    )
    if not any_configured(settings):
        log.warning(
            "no LLM provider is configured: tasks fail at their first LLM step",
            missing=missing_setting(settings, "default"),
        )
    store = ArtifactStore(session_factory(engine), settings.artifact_root)
    sweeper = asyncio.create_task(sweep_forever(settings, session_factory(engine), store))
    async with worker:
        await stop.wait()
        log.info("worker stopping")
    sweeper.cancel()
    await asyncio.gather(sweeper, return_exceptions=True)
    await provider.aclose()
    await engine.dispose()
    log.info("worker stopped")
