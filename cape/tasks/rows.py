"""The task row and its `task-created` event: the one place a `Task` is constructed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cape.contracts.task_input import TaskRegistration
from cape.db.events import NewEvent, first_event
from cape.db.models import Task
from cape.domain import Channel, EventType, TaskStatus
from cape.teams import DEFAULT_TEAM_ID
from cape.telemetry.tracing import current_trace_id


@dataclass(frozen=True)
class NewTask:
    """What a new task is: its agent version, owner, input, model and budgets, and its origin.

    `parent_id` and `relation` link a rerun or a fork to its parent; `fork_step` is the parent's
    step a fork runs again; `schedule_id` names the schedule whose run it is.
    """

    id: str
    agent: str
    agent_version: str
    owner: str
    input: dict[str, Any]
    model: str
    max_steps: int
    limits: dict[str, Any] | None = None
    idempotency_key: str | None = None
    parent_id: str | None = None
    relation: str | None = None
    fork_step: int | None = None
    schedule_id: str | None = None
    team_id: str = ""  # the team that owns it (every starter sets it)
    event_id: str | None = None  # the event whose trigger started it

    @classmethod
    def of(cls, task: Task) -> NewTask:
        """The description of an existing row (to start its workflow again)."""
        return cls(
            id=task.id, agent=task.agent, agent_version=task.agent_version, owner=task.owner,
            input=task.input, model=task.model, max_steps=task.max_steps, limits=task.limits,
            idempotency_key=task.idempotency_key, parent_id=task.parent_id,
            relation=task.relation, fork_step=task.fork_step, schedule_id=task.schedule_id,
            team_id=task.team_id, event_id=task.event_id,
        )  # fmt: skip

    @classmethod
    def registered(cls, task_id: str, reg: TaskRegistration) -> NewTask:
        """The task a workflow started without a row registers (a schedule's run, `task_id`).

        Its row keeps no limits: the run's budgets are in its workflow input (`scheduled_input`).
        """
        return cls(
            id=task_id, agent=reg.agent, agent_version=reg.agent_version, owner=reg.owner,
            input=reg.input, model=reg.model, max_steps=reg.max_steps, schedule_id=reg.schedule_id,
            team_id=reg.team_id or DEFAULT_TEAM_ID,
        )  # fmt: skip

    def row(self) -> Task:
        """The queued row of this task (not added to any session)."""
        return Task(
            id=self.id, agent=self.agent, agent_version=self.agent_version, owner=self.owner,
            status=TaskStatus.QUEUED, input=self.input, model=self.model,
            max_steps=self.max_steps, limits=self.limits, idempotency_key=self.idempotency_key,
            usage={}, last_seq=0, parent_id=self.parent_id, relation=self.relation,
            fork_step=self.fork_step, schedule_id=self.schedule_id, team_id=self.team_id,
            event_id=self.event_id,
        )  # fmt: skip


async def add_task(session: AsyncSession, new: NewTask, details: dict[str, Any]) -> Task:
    """Add the task's row and its `task-created` event to the session's transaction.

    The event carries the agent, version and model, then `details` (limits, warnings, the
    parent or the schedule). The caller commits; flushing here surfaces a duplicate id (an
    `IntegrityError`: a retried activity's row is there already) before the event, which is
    therefore always the new row's first (sequence number 1, no counter bump or lookup).
    With tracing on the row keeps the current trace (the creating request's, or the schedule
    run's registering activity's), so a user goes from the task to its trace.
    """
    task = new.row()
    task.trace_id = current_trace_id()
    task.last_seq = 1  # its `task-created`, written next with that number
    session.add(task)
    await session.flush()
    data = {"agent": new.agent, "agent_version": new.agent_version, "model": new.model}
    created = NewEvent(
        Channel.LIFECYCLE, EventType.TASK_CREATED, data | details, None, "task-created"
    )
    await first_event(session, task.id, created)
    return task
