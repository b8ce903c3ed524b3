"""Creating instances and controlling them: the row, then the instance's workflow.

Creation resolves the agent version now (a version or range nothing allowed matches is refused
at once), writes the row and its audit entry, then starts the workflow. Pause, resume, stop and
recover are updates of the workflow: it answers with its state, or refuses (409) with why.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.instances.schemas import InstanceCreate
from api.updates import never_ran
from cape.audit import record
from cape.auth import Principal
from cape.contracts.instances import (
    INSTANCE_CONFLICT,
    ControlInput,
    InstanceState,
    InstanceStatus,
    instance_workflow_id,
)
from cape.db.instance_models import AgentInstance
from cape.errors import Conflict, InvalidInput, NotFound, Unavailable
from cape.instances.ids import new_instance_id
from cape.instances.start import instance_start
from cape.instances.state import initial_state
from cape.registry.resolve import resolve_agent
from cape.settings import Settings
from workflows.instances import InstanceWorkflow

log = structlog.get_logger(__name__)
BUSY_SECONDS = 30.0  # how long an update the workflow could not take yet is sent again


async def owned_instance(session: AsyncSession, team_id: str, instance_id: str) -> AgentInstance:
    """The team's instance, else 404 (another team's instance is not revealed)."""
    row = await session.get(AgentInstance, instance_id, populate_existing=True)
    if row is None or row.team_id != team_id:
        raise NotFound(f"instance {instance_id!r} not found", details={"instance_id": instance_id})
    return row


def _limits(body: InstanceCreate, settings: Settings) -> None:
    if body.max_concurrent > settings.instance_max_concurrent:
        raise InvalidInput(
            "invalid instance: body.max_concurrent",
            details=[
                {
                    "field": "body.max_concurrent",
                    "message": f"at most {settings.instance_max_concurrent} "
                    "(CAPE_INSTANCE_MAX_CONCURRENT)",
                }
            ],
        )


async def create(
    sessions: async_sessionmaker[AsyncSession],
    temporal: Client,
    settings: Settings,
    principal: Principal,
    body: InstanceCreate,
) -> AgentInstance:
    """Write the instance and start its workflow; 409 when the team has one of that name."""
    _limits(body, settings)
    wanted = (body.agent_version or "").strip()
    async with sessions() as session:
        await resolve_agent(session, principal, body.agent, wanted or None)  # 404/409/422 now
        row = AgentInstance(
            id=new_instance_id(), team_id=principal.team_id, name=body.name, agent=body.agent,
            version_range=wanted, subscriptions=[s.model_dump() for s in body.subscriptions],
            max_concurrent=body.max_concurrent,
            failure_limit=body.failure_limit or settings.instance_failure_limit,
            input_defaults=body.input, model=body.model, state=InstanceStatus.IDLE.value,
            counters={}, inbox_length=0, current_tasks=[], created_by=principal.owner, version=0,
        )  # fmt: skip
        session.add(row)
        record(session, principal, "create", "instance", row.id, name=body.name, agent=body.agent)
        try:
            await session.commit()
        except IntegrityError:
            raise Conflict(
                f"the team already has an instance named {body.name!r}",
                details={"name": body.name},
            ) from None
        await session.refresh(row)
    await start(temporal, settings, row)
    return row


async def start(temporal: Client, settings: Settings, row: AgentInstance) -> None:
    """Start the instance's workflow (a running one is left as it is)."""
    begin = instance_start(initial_state(row, settings), settings.task_queue)
    await temporal.start_workflow(
        InstanceWorkflow.run,
        begin.state,
        id=begin.id,
        task_queue=begin.task_queue,
        search_attributes=begin.search_attributes,
        static_summary=begin.summary,
        id_conflict_policy=begin.id_conflict_policy,
    )


async def control(
    temporal: Client,
    settings: Settings,
    principal: Principal,
    row: AgentInstance,
    action: str,
    cancel: bool = False,
) -> InstanceState | None:
    """Send `action` to the instance's workflow; its state after, or None when it has ended.

    A stopped instance's workflow has ended: stopping it again answers its row.
    """  # fmt: skip
    if row.state == InstanceStatus.STOPPED:
        if action == "stop":
            return None
        raise Conflict("the instance is stopped; create a new one", details={"state": row.state})
    handle = temporal.get_workflow_handle_for(
        InstanceWorkflow.run, instance_workflow_id(row.team_id, row.id)
    )
    inp = ControlInput(action=action, cancel=cancel, by=principal.owner)
    ends = time.monotonic() + BUSY_SECONDS
    restarted = False
    while True:
        try:
            state: InstanceState = await handle.execute_update(InstanceWorkflow.control, inp)
            return state
        except WorkflowUpdateFailedError as exc:
            cause: Any = exc.cause
            if isinstance(cause, ApplicationError) and cause.type == INSTANCE_CONFLICT:
                raise Conflict(cause.message, details={"action": action}) from None
            if not never_ran(exc) or time.monotonic() > ends:  # left unprocessed by a worker
                raise
            await asyncio.sleep(random.uniform(0.05, 0.5))
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND and not restarted:
                if await _ended(temporal, row):  # stopped a moment ago; the row is saved next
                    if action == "stop":
                        return None
                    raise Conflict(
                        "the instance is stopped; create a new one", details={}
                    ) from None
                await start(temporal, settings, row)  # its workflow was lost: start it again
                restarted = True
                continue
            # An update aborted while the workflow continued as new never ran: send it again.
            if not never_ran(exc) or time.monotonic() > ends:
                log.warning("instance control failed", instance=row.id, error=str(exc))
                raise Unavailable(f"the instance did not answer: {exc.message}") from None
            await asyncio.sleep(random.uniform(0.05, 0.5))


async def _ended(temporal: Client, row: AgentInstance) -> bool:
    """Whether the instance's workflow has completed (a stopped instance's end)."""
    handle = temporal.get_workflow_handle(instance_workflow_id(row.team_id, row.id))
    try:
        described = await handle.describe()
    except RPCError:
        return False
    return described.status == WorkflowExecutionStatus.COMPLETED


async def team_instances(session: AsyncSession, team_id: str) -> list[AgentInstance]:
    """Every instance of the team."""
    return list(
        await session.scalars(select(AgentInstance).where(AgentInstance.team_id == team_id))
    )
