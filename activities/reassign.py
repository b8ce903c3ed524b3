"""Re-pinning a queued task to another agent: the one of its capability that freed up first.

A task assigned by capability while every candidate was busy waits on each candidate's
semaphore (docs/multi-agent.md, "All busy"); when an alternative's is granted first, this
activity moves the row to that agent and builds the workflow input the task continues with.
"""

from __future__ import annotations

from dataclasses import replace

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from cape.contracts.task_input import AgentTaskInput, ReassignInput
from cape.db.events import append_event
from cape.db.models import Task
from cape.domain import Channel, EventType
from cape.errors import InvalidInput, NotFound
from cape.registry.resolve import load_spec
from cape.registry.validate import input_problems
from cape.settings import Settings
from cape.tasks.rows import NewTask
from cape.tasks.workflow_input import workflow_input

log = structlog.get_logger(__name__)


class ReassignActivities:
    """Built in the worker with the database and the settings (for the input's tuning)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings

    @activity.defn(name="reassign_task")
    async def reassign(self, inp: ReassignInput) -> AgentTaskInput | None:
        """Pin the task to `inp.to` and return its new workflow input; None if it cannot move.

        It cannot when the task's input does not fit that agent's input schema, its prompt or
        locks do not render, or the version is gone. Exactly once: the row moves and the
        `task-reassigned` event is written in one transaction, only while the row is still on
        `from_agent` (a retry finds it moved and only builds the input again).
        """
        to = inp.to
        async with self.sessions.begin() as session:
            row = await session.scalar(select(Task).where(Task.id == inp.task_id).with_for_update())
            if row is None:
                return None
            try:
                spec = await load_spec(session, to.agent, to.version)
                problems = input_problems(spec.input_schema, row.input)
                new = workflow_input(
                    self.settings,
                    replace(NewTask.of(row), agent=to.agent, agent_version=to.version),
                    spec,
                )
            except (InvalidInput, NotFound) as exc:
                log.info("reassign skipped", task_id=inp.task_id, agent=to.agent, error=str(exc))
                return None
            if problems:
                log.info("reassign skipped: input", task_id=inp.task_id, agent=to.agent)
                return None
            if row.agent == inp.from_agent and row.agent_version == inp.from_version:
                row.agent, row.agent_version = to.agent, to.version
                data = {
                    "from": {"agent": inp.from_agent, "agent_version": inp.from_version},
                    "to": {"agent": to.agent, "agent_version": to.version},
                    "why": inp.why,
                }
                await append_event(
                    session, row.id, channel=Channel.LIFECYCLE, type=EventType.TASK_REASSIGNED,
                    data=data, dedupe_key="task-reassigned",
                )  # fmt: skip
        return new
