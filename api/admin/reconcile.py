"""Task rows against Temporal's workflows: where they disagree, and the repair of each case.

The workflow id is the task id, so the two sides are joined by id. A row is written before its
workflow is started (the row is the outbox): a start that never reached Temporal leaves a
`queued` row alone, which a repair starts again (a second start of the same id is refused, so
a repair racing the original start is harmless).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from api.admin.outcome import ended_outcome, missing
from api.tasks.launch import start_workflow
from cape.assign.event import recorded_alternatives
from cape.contracts.delegation import DELEGATED_RELATION
from cape.contracts.temporal import AGENT_TASK_WORKFLOW, OWNER_KEY, TEAM_KEY
from cape.db.finish import record_finish
from cape.db.models import Task, utcnow
from cape.domain import TaskStatus
from cape.errors import NotFound
from cape.reconciliation import Action, Finding, Kind, Outcome, Report
from cape.registry.resolve import load_spec
from cape.settings import Settings
from cape.tasks.ids import API_TASK_PREFIX
from cape.teams import DEFAULT_TEAM_ID

log = structlog.get_logger(__name__)
OPEN = [TaskStatus.QUEUED, TaskStatus.RUNNING, TaskStatus.INPUT_REQUIRED, TaskStatus.PAUSED]


class Reconcile:
    """Finds and repairs disagreements between the app database and Temporal."""

    def __init__(
        self,
        settings: Settings,
        temporal: Client,
        sessions: async_sessionmaker[AsyncSession],
        reads: async_sessionmaker[AsyncSession],
    ) -> None:
        self.settings = settings
        self.temporal = temporal
        self.sessions = sessions
        self.reads = reads

    async def scan(self, owner: str | None = None, team: str | None = None) -> Report:
        """Compare open rows and running workflows (one owner's or team's, or everyone's).

        Rows younger than the grace period are left to the request still starting them.
        """
        now = utcnow()
        settled = now - timedelta(seconds=self.settings.reconcile_grace_seconds)
        query = select(Task).where(Task.status.in_([str(s) for s in OPEN]))
        if owner is not None:
            query = query.where(Task.owner == owner)
        if team is not None:
            query = query.where(Task.team_id == team)
        async with self.reads() as session:
            rows = [t for t in await session.scalars(query) if _aware(t.created_at) < settled]
        running = await self._running(owner, team)
        report = Report(rows_checked=len(rows), workflows_checked=len(running))
        for task in rows:
            if task.id not in running:
                found = await self.check_row(task, now)
                # A row just written may be a step ahead of Temporal (a retry reopens the row,
                # then resets the workflow): only a settled row is closed.
                recent = _aware(task.updated_at) >= settled
                if found is not None and not (found.kind == Kind.WORKFLOW_ENDED and recent):
                    report.findings.append(found)
        open_ids = {t.id for t in rows}
        others = [w for i, w in running.items() if i not in open_ids and w.start_time < settled]
        report.findings += await self._unaccounted(others, settled)
        return report

    async def check_row(self, task: Task, now: datetime | None = None) -> Finding | None:
        """What is wrong with one open row (None when its workflow is running)."""
        try:
            desc = await self.temporal.get_workflow_handle(task.id).describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            if task.relation == DELEGATED_RELATION and task.parent_id:
                return await self._delegated_without_workflow(task)
            return self._without_workflow(task, now or utcnow())
        if desc.status in (None, WorkflowExecutionStatus.RUNNING):
            return None
        outcome = await ended_outcome(self.temporal, desc)
        return Finding(
            Kind.WORKFLOW_ENDED, task.id, task.owner, task.status, _name(desc.status),
            Action.CLOSE, f"the row is {task.status} but its workflow ended {_name(desc.status)}",
            outcome,
        )  # fmt: skip

    async def _delegated_without_workflow(self, task: Task) -> Finding | None:
        # A delegated row is started by its parent's workflow, as its child (shared budget,
        # cancel with the parent, shared workspace): started here it would run as an orphan.
        # While the parent's workflow runs (even with no worker for now) it is left to it.
        assert task.parent_id is not None
        try:
            parent = await self.temporal.get_workflow_handle(task.parent_id).describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            parent = None
        if parent is not None and parent.status in (None, WorkflowExecutionStatus.RUNNING):
            return None
        why = "its delegating task ended before starting it"
        return Finding(
            Kind.ROW_WITHOUT_WORKFLOW, task.id, task.owner, task.status, None, Action.FAIL,
            f"the row is {task.status} but has no workflow ({why})", missing(why),
        )  # fmt: skip

    def _without_workflow(self, task: Task, now: datetime) -> Finding:
        fresh = now - _aware(task.created_at) < timedelta(
            seconds=self.settings.reconcile_start_within_seconds
        )
        if task.status == TaskStatus.QUEUED and task.schedule_id is None and fresh:
            reason = "the row is queued but its workflow was never started"
            return Finding(
                Kind.ROW_WITHOUT_WORKFLOW, task.id, task.owner, task.status, None,
                Action.START, reason,
            )  # fmt: skip
        why = "never started" if task.status == TaskStatus.QUEUED else "its history is gone"
        return Finding(
            Kind.ROW_WITHOUT_WORKFLOW, task.id, task.owner, task.status, None, Action.FAIL,
            f"the row is {task.status} but has no workflow ({why})", missing(why),
        )  # fmt: skip

    async def _running(self, owner: str | None, team: str | None) -> dict[str, WorkflowExecution]:
        queue = self.settings.task_queue.replace("'", "")
        query = (
            f"WorkflowType = '{AGENT_TASK_WORKFLOW}' AND ExecutionStatus = 'Running'"
            f" AND TaskQueue = '{queue}'"
        )
        found: dict[str, WorkflowExecution] = {}
        async for execution in self.temporal.list_workflows(query):
            attributes = execution.typed_search_attributes
            if owner is not None and attributes.get(OWNER_KEY) != owner:
                continue
            # Workflows started before teams carry no CapeTeam: the default team's.
            if team is not None and (attributes.get(TEAM_KEY) or DEFAULT_TEAM_ID) != team:
                continue
            found[execution.id] = execution
        return found

    async def _unaccounted(
        self, workflows: list[WorkflowExecution], settled: datetime
    ) -> list[Finding]:
        if not workflows:
            return []
        async with self.reads() as session:
            rows = {
                t.id: t
                for t in await session.scalars(
                    select(Task).where(Task.id.in_([w.id for w in workflows]))
                )
            }
        findings = []
        for execution in workflows:
            owner = execution.typed_search_attributes.get(OWNER_KEY)
            task = rows.get(execution.id)
            if task is None:
                api_task = execution.id.startswith(API_TASK_PREFIX)
                reason = (
                    "no task row has this workflow's id"
                    if api_task
                    else "a schedule's run whose first step has not registered its row yet"
                )
                action = Action.TERMINATE if api_task else Action.NONE
                findings.append(
                    Finding(Kind.WORKFLOW_WITHOUT_ROW, execution.id, owner, None, "running",
                            action, reason)
                )  # fmt: skip
            elif TaskStatus(task.status).terminal and _aware(task.finished_at) < settled:
                # Visibility lags: confirm the workflow really still runs.
                desc = await self.temporal.get_workflow_handle(execution.id).describe()
                if desc.status == WorkflowExecutionStatus.RUNNING:
                    reason = f"the row ended as {task.status} but its workflow still runs"
                    findings.append(
                        Finding(Kind.ROW_ENDED, task.id, owner, task.status, "running",
                                Action.TERMINATE, reason)
                    )  # fmt: skip
        return findings

    async def repair(self, findings: Iterable[Finding], *, terminate: bool = False) -> None:
        """Repair each finding in place (`repaired`, or `problem` saying why not).

        Workflows are terminated only when `terminate` is set (an explicit repair).
        """
        for found in findings:
            if found.action == Action.NONE or (found.action == Action.TERMINATE and not terminate):
                continue
            try:
                await self._apply(found)
            except (RPCError, RuntimeError, NotFound) as exc:
                found.problem = str(exc)
                log.warning("reconcile repair failed", task_id=found.task_id, error=str(exc))
                continue
            log.warning(
                "reconciler repaired a task",
                task_id=found.task_id,
                kind=str(found.kind),
                action=str(found.action),
                repaired=found.repaired,
                reason=found.reason,
                problem=found.problem,
            )

    async def _apply(self, found: Finding) -> None:
        if found.action == Action.TERMINATE:
            reason = f"cape reconcile: {found.reason}"
            await self.temporal.get_workflow_handle(found.task_id).terminate(reason=reason)
            found.repaired = True
            return
        if found.action == Action.START:
            async with self.reads() as session:
                task = await session.get(Task, found.task_id, populate_existing=True)
                if task is None or task.status != TaskStatus.QUEUED:
                    found.problem = "the row changed meanwhile"
                    return
                try:
                    spec = await load_spec(session, task.agent, task.agent_version)
                except NotFound as exc:
                    found.action, found.outcome = Action.FAIL, missing(f"cannot start: {exc}")
                    spec = None
                # Assigned by capability with every candidate busy: the first free one still.
                others = await recorded_alternatives(session, task)
            if spec is not None:
                await start_workflow(self.temporal, self.settings, task, spec, others)
                found.repaired = True
                return
        assert found.outcome is not None
        found.repaired = await self.record(found.task_id, found.outcome)
        if not found.repaired:
            found.problem = "the row ended meanwhile"

    async def record(self, task_id: str, outcome: Outcome) -> bool:
        """Give an open row its final status; False when it had ended already."""
        finish = partial(
            record_finish,
            task_id=task_id,
            status=outcome.status,
            run_id=outcome.run_id,
            output=outcome.output,
            error=outcome.error,
            only_open=True,
        )
        async with self.sessions.begin() as session:
            return await session.run_sync(finish)


def _aware(stamp: datetime | None) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    if stamp is None:
        return datetime.min.replace(tzinfo=utcnow().tzinfo)
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=utcnow().tzinfo)


def _name(status: WorkflowExecutionStatus | None) -> str:
    return status.name.lower() if status is not None else "unknown"
