"""Task-level activities: workspace setup (which also marks the task running) and finishing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.recorder import StepRecorder
from activities.types import FinishInput, WorkspaceInput, WorkspaceResult
from cape.db.events import append_event
from cape.db.models import Task, TaskStep, utcnow
from cape.domain import Channel, EventType, StepStatus, TaskStatus

log = structlog.get_logger(__name__)

FINISH_EVENTS = {
    TaskStatus.SUCCEEDED: EventType.TASK_SUCCEEDED,
    TaskStatus.FAILED: EventType.TASK_FAILED,
    TaskStatus.CANCELED: EventType.TASK_CANCELED,
}
UNFINISHED = (StepStatus.QUEUED, StepStatus.RUNNING, StepStatus.RETRYING)


def _write_workspace(path: Path, title: str, description: str) -> None:
    for sub in ("src", "output", "research"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    readme = path / "README.md"
    if not readme.exists():
        readme.write_text(f"# {title}\n\n{description}\n\n## Progress\n\n- workspace created\n")


class TaskActivities:
    """Workspace setup and task completion, built in the worker."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], workspace_root: Path) -> None:
        self.sessions = sessions
        self.recorder = StepRecorder(sessions)
        self.workspace_root = workspace_root

    @activity.defn(name="setup_workspace")
    async def setup_workspace(self, inp: WorkspaceInput) -> WorkspaceResult:
        """Create the task's workspace directory and mark the task running."""
        ref = inp.step
        structlog.contextvars.bind_contextvars(
            task_id=ref.task_id, workflow_id=activity.info().workflow_id
        )
        path = self.workspace_root / ref.task_id
        async with self.sessions.begin() as session:
            await append_event(
                session,
                ref.task_id,
                channel=Channel.LIFECYCLE,
                type=EventType.TASK_STARTED,
                data={"workflow_id": activity.info().workflow_id},
                dedupe_key="task-started",
            )
            await session.execute(
                update(Task)
                .where(Task.id == ref.task_id, Task.status == TaskStatus.QUEUED)
                .values(status=TaskStatus.RUNNING, started_at=utcnow())
            )
        done = await self.recorder.begin(ref, {"title": inp.title})
        if done is not None:
            return WorkspaceResult(path=done["path"])
        await asyncio.to_thread(_write_workspace, path, inp.title, inp.description)
        await self.recorder.finish(ref, {"path": str(path)})
        return WorkspaceResult(path=str(path))

    @activity.defn(name="finish_task")
    async def finish_task(self, inp: FinishInput) -> None:
        """Store the final status and result; close steps left open; emit the final event."""
        status = TaskStatus(inp.status)
        structlog.contextvars.bind_contextvars(
            task_id=inp.task_id, workflow_id=activity.info().workflow_id
        )
        step_status = StepStatus.CANCELED if status == TaskStatus.CANCELED else StepStatus.FAILED
        async with self.sessions.begin() as session:
            await append_event(
                session,
                inp.task_id,
                channel=Channel.LIFECYCLE,
                type=FINISH_EVENTS[status],
                data={"status": status, "output": inp.output, "error": inp.error},
                dedupe_key="task-finished",
            )
            await session.execute(
                update(Task)
                .where(Task.id == inp.task_id)
                .values(
                    status=status,
                    output=inp.output,
                    error=inp.error,
                    usage=dict(inp.usage.__dict__),
                    finished_at=utcnow(),
                )
            )
            await session.execute(
                update(TaskStep)
                .where(TaskStep.task_id == inp.task_id, TaskStep.status.in_(UNFINISHED))
                .values(status=step_status, finished_at=utcnow())
            )
        log.info("task finished", status=status)
