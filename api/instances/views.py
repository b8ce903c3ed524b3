"""Reading instances: the listing and history from the database, one instance live.

`GET /v1/instances/{id}` asks the instance's workflow for its state (current tasks, inbox,
counters as they are now) and falls back to the row, the workflow's last saved copy, when the
workflow has ended (stopped) or does not answer.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError

from api.instances.schemas import (
    CountersOut,
    CurrentTask,
    HistoryOut,
    HistoryPage,
    InstanceOut,
    InstancePage,
    Subscription,
)
from api.pagination import decode_cursor, encode_cursor
from cape.contracts.instances import InstanceState, InstanceStatus, instance_workflow_id
from cape.db.instance_models import AgentInstance, InstanceHistory
from cape.errors import InvalidInput
from workflows.instances import InstanceWorkflow

log = structlog.get_logger(__name__)
QUERY_TIMEOUT = timedelta(seconds=5)


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _task(item: dict[str, Any]) -> CurrentTask:
    return CurrentTask(
        task_id=item["task_id"], event_id=item["event_id"],
        agent_version=item.get("agent_version") or None,
        started_at=datetime.fromisoformat(item["started_at"]),
    )  # fmt: skip


def instance_out(row: AgentInstance, state: InstanceState | None = None) -> InstanceOut:
    """The instance as its row holds it, or with the live `state` of its workflow."""
    if state is not None:
        status, counters, inbox = state.status.value, asdict(state.counters), len(state.inbox)
        tasks = [asdict(r) for r in state.running]
        error, version = state.error, state.agent_version
    else:
        status, counters, inbox = row.state, row.counters or {}, row.inbox_length
        tasks, error, version = row.current_tasks or [], row.last_error, row.agent_version
    return InstanceOut(
        id=row.id, name=row.name, agent=row.agent, agent_version=row.version_range or None,
        current_version=version,
        subscriptions=[Subscription.model_validate(s) for s in row.subscriptions],
        max_concurrent=row.max_concurrent, failure_limit=row.failure_limit,
        input=row.input_defaults or {}, model=row.model, state=status,
        counters=CountersOut(**counters), inbox_length=inbox,
        current_tasks=[_task(t) for t in tasks], last_error=error, created_by=row.created_by,
        created_at=_aware(row.created_at), updated_at=_aware(row.updated_at),
    )  # fmt: skip


async def live(temporal: Client, row: AgentInstance) -> InstanceState | None:
    """The workflow's state now, or None (stopped and ended, or not answering)."""
    if row.state == InstanceStatus.STOPPED:
        return None
    handle = temporal.get_workflow_handle_for(
        InstanceWorkflow.run, instance_workflow_id(row.team_id, row.id)
    )
    try:
        state: InstanceState = await handle.query(
            InstanceWorkflow.instance_state, rpc_timeout=QUERY_TIMEOUT
        )
    except RPCError as exc:
        log.info("instance query failed; answering its saved copy", instance=row.id, error=str(exc))
        return None
    return state


async def instance_page(
    session: AsyncSession, team_id: str, state: str | None, limit: int, cursor: str | None
) -> InstancePage:
    """A page of the team's instances, newest first, in one state or all."""
    query = select(AgentInstance).where(AgentInstance.team_id == team_id)
    if state is not None:
        query = query.where(AgentInstance.state == state)
    if cursor is not None:
        stamp, last = decode_cursor(cursor)
        query = query.where(
            or_(
                AgentInstance.created_at < stamp,
                and_(AgentInstance.created_at == stamp, AgentInstance.id < last),
            )
        )
    query = query.order_by(AgentInstance.created_at.desc(), AgentInstance.id.desc())
    rows = list(await session.scalars(query.limit(limit + 1)))
    more, rows = len(rows) > limit, rows[:limit]
    next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
    return InstancePage(items=[instance_out(r) for r in rows], next_cursor=next_cursor)


async def history_page(
    session: AsyncSession, row: AgentInstance, limit: int, cursor: str | None
) -> HistoryPage:
    """A page of the instance's history, newest first."""
    query = select(InstanceHistory).where(InstanceHistory.instance_id == row.id)
    if cursor is not None:
        stamp, last = decode_cursor(cursor)
        if not last.isdigit():
            raise InvalidInput(
                "cursor is not valid", details=[{"field": "query.cursor", "message": "malformed"}]
            )
        query = query.where(
            or_(
                InstanceHistory.started_at < stamp,
                and_(InstanceHistory.started_at == stamp, InstanceHistory.id < int(last)),
            )
        )
    query = query.order_by(InstanceHistory.started_at.desc(), InstanceHistory.id.desc())
    rows = list(await session.scalars(query.limit(limit + 1)))
    more, rows = len(rows) > limit, rows[:limit]
    next_cursor = encode_cursor(rows[-1].started_at, str(rows[-1].id)) if more and rows else None
    items = [
        HistoryOut(
            event_id=h.event_id,
            task_id=h.task_id,
            agent_version=h.agent_version,
            outcome=h.outcome,
            reason=h.reason,
            duration_seconds=h.duration_seconds,
            started_at=_aware(h.started_at),
            finished_at=_aware(h.finished_at) if h.finished_at else None,
        )
        for h in rows
    ]
    return HistoryPage(items=items, next_cursor=next_cursor)


async def states(session: AsyncSession, team_id: str) -> tuple[dict[str, int], int]:
    """The team's instances by state (every state named) and their inboxes' total length."""
    rows = await session.execute(
        select(
            AgentInstance.state,
            func.count(),
            func.coalesce(func.sum(AgentInstance.inbox_length), 0),
        )
        .where(AgentInstance.team_id == team_id)
        .group_by(AgentInstance.state)
    )
    counts = {s.value: 0 for s in InstanceStatus}
    backlog = 0
    for state, count, inbox in rows:
        counts[state] = int(count)
        backlog += int(inbox)
    return counts, backlog
