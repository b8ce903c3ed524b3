"""Task-level activities: workspace setup (which also marks the task running) and finishing."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session
from temporalio import activity

from activities.heartbeat import heartbeating
from activities.hostview import WORKSPACE, HostView
from activities.recorder import StepRecorder
from activities.registration import register_task
from activities.snapshot_plan import SnapshotTooLarge
from activities.tools.confine import Limits
from activities.tools.workspace_io import write_bytes
from activities.types import (
    EventInput,
    FinishInput,
    MarkInput,
    RestoreInput,
    StepRef,
    WorkspaceInput,
    WorkspaceResult,
)
from activities.workspace import layout, note_progress, restore_snapshot, save_snapshot
from cape.artifacts import ArtifactStore
from cape.contracts.steps import WorkspaceStepOutput
from cape.contracts.temporal import host_queue as contract_host_queue
from cape.db.events import NewEvent, append_event, append_events_now
from cape.db.finish import record_finish
from cape.db.models import Task, utcnow
from cape.db.tables import TASKS
from cape.db.writes import write
from cape.domain import Channel, EventType, TaskStatus
from cape.sandbox.launcher import Sandbox
from cape.settings import Settings
from cape.task_files import INPUT_DIR
from cape.tasks.parent_events import tell_parent, tell_parent_now

log = structlog.get_logger(__name__)


def host_queue(settings: Settings) -> str:
    """The task queue only this host's worker polls: steps that touch its workspaces."""
    return contract_host_queue(settings.task_queue, settings.host_id)


class TaskActivities:
    """Workspace setup and task completion, built in the worker."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        sandbox: Sandbox,
        store: ArtifactStore,
    ) -> None:
        self.sessions = sessions
        self.recorder = StepRecorder(sessions)
        self.settings = settings
        self.sandbox = sandbox
        self.store = store

    def _here(self, path: Path, snapshot: str | None) -> WorkspaceResult:
        # The workflow names the host in errors and events: its label, never the host name.
        return WorkspaceResult(
            str(path), host_queue(self.settings), self.settings.host_label, snapshot
        )

    def _mine(self, done: dict[str, Any] | None) -> bool:
        """Whether a finished step's output says it ran on this host (rows before labels too)."""
        return done is not None and done.get("host") in (
            self.settings.host_label,
            self.settings.host_id,
        )

    async def _prepare(self, path: Path, title: str | None, description: str) -> None:
        def work() -> None:
            if title is not None:
                layout(path, title, description)
            # The sandbox user owns the workspace, so sandboxed commands can write in it.
            self.sandbox.prepare_workspace(path)

        await asyncio.to_thread(work)

    async def _place_inputs(self, task_id: str, path: Path) -> None:
        """Copy the task's input files into `input/`, by descriptor (no link is followed)."""
        files = await self.store.inputs(task_id)
        if not files:
            return
        limits = Limits.of(self.settings)

        def work() -> None:
            for info in files:
                data = self.store.path(info).read_bytes()
                write_bytes(path, f"{INPUT_DIR}/{info.name}", data, limits)
            names = ", ".join(f"{INPUT_DIR}/{info.name}" for info in files)
            note_progress(path, f"input files: {names}")

        await asyncio.to_thread(work)
        log.info("input files placed", files=len(files))

    async def _snapshot(self, ref: StepRef, path: Path) -> str | None:
        if not self.settings.workspace_snapshots:
            return None
        try:
            return await save_snapshot(self.store, ref.task_id, ref.step_no, path, self.settings)
        except SnapshotTooLarge as exc:  # a fork of a workspace the operator has since bounded
            log.warning("workspace not snapshotted", reason=str(exc))
            return None

    @activity.defn(name="setup_workspace")
    async def setup_workspace(self, inp: WorkspaceInput) -> WorkspaceResult:
        """Create the task's workspace (with its input files) and mark the task running."""
        ref, workflow_id = inp.step, activity.info().workflow_id
        structlog.contextvars.bind_contextvars(task_id=ref.task_id, workflow_id=workflow_id)
        path = Path(inp.path) if inp.path else self.settings.workspace_root / ref.task_id
        if inp.register is not None:  # a schedule's run has no row yet (a retry finds it there)
            async with self.sessions.begin() as session:
                await register_task(session, ref.task_id, inp.register)

        def mark_started(session: Session) -> None:
            key = "task-started"
            data = {"workflow_id": workflow_id}
            started_event = NewEvent(Channel.LIFECYCLE, EventType.TASK_STARTED, data, None, key)
            append_events_now(session, ref.task_id, [started_event])
            started: dict[str, Any] = {"status": TaskStatus.RUNNING, "started_at": utcnow()}
            if inp.deadline is not None:  # the workflow's own, so the row shows it exactly
                started["deadline"] = datetime.fromisoformat(inp.deadline)
            session.execute(
                update(TASKS)
                .where(TASKS.c.id == ref.task_id, TASKS.c.status == TaskStatus.QUEUED)
                .values(**started)
            )

        # The task's start and its first step's: one transaction.
        started = await self.recorder.start(ref, {"title": inp.title}, before=mark_started)
        done = started.done
        if self._mine(done):
            assert done is not None
            return self._here(path, done.get("snapshot"))
        if done is not None and done.get("snapshot"):
            return await self._take_over(ref, path, done, str(done["snapshot"]))
        async with heartbeating():  # a fork's seed may be large
            if inp.seed is not None:
                await restore_snapshot(self.store, ref.task_id, inp.seed, path)
            await self._prepare(path, None if inp.seed else inp.title, inp.description)
            if inp.seed is None:  # a fork's seed already holds its parent's input/
                await self._place_inputs(ref.task_id, path)
            snapshot = await self._snapshot(ref, path)
        if done is not None:  # set up on a host whose result was lost, without a snapshot
            return await self._moved(ref, path, done, snapshot)
        # Clients see the task's paths as the sandbox does, and the host by its label.
        output: WorkspaceStepOutput = {
            "path": WORKSPACE,
            "host": self.settings.host_label,
            "snapshot": snapshot,
        }
        await self.recorder.finish(ref, output)
        return self._here(path, snapshot)

    async def _take_over(
        self, ref: StepRef, path: Path, done: dict[str, Any], snapshot: str
    ) -> WorkspaceResult:
        """Move here a workspace whose step finished on another host but never told the workflow.

        That host's worker died between storing the step and reporting it, so Temporal ran the
        step again here. Its workspace is restored from the step's snapshot now, instead of the
        next tool step waiting `host_timeout_seconds` for a host that is most likely gone.
        """
        await self._restore(ref, path, snapshot)
        return await self._moved(ref, path, done, snapshot)

    async def _restore(self, ref: StepRef, path: Path, snapshot: str) -> None:
        async with heartbeating():
            await restore_snapshot(self.store, ref.task_id, snapshot, path)
            await self._prepare(path, None, "")

    async def _moved(
        self, ref: StepRef, path: Path, done: dict[str, Any], snapshot: str | None
    ) -> WorkspaceResult:
        lost, here = str(done.get("host")), self.settings.host_label
        output: WorkspaceStepOutput = {
            "path": WORKSPACE, "host": here, "snapshot": snapshot, "lost_host": lost
        }  # fmt: skip
        reason = f"the step's result on {lost} never reached the workflow"
        data = {"host": here, "lost_host": lost, "snapshot": snapshot, "reason": reason}
        log.warning("workspace moved: its step's result was lost", **data)
        event = (Channel.LIFECYCLE, EventType.WORKSPACE_RESTORED, data)
        await self.recorder.redone(ref, output, event)
        return self._here(path, snapshot)

    @activity.defn(name="restore_workspace")
    async def restore_workspace(self, inp: RestoreInput) -> WorkspaceResult:
        """Recreate the workspace on this host from its last snapshot (its host is gone)."""
        ref, workflow_id = inp.step, activity.info().workflow_id
        structlog.contextvars.bind_contextvars(task_id=ref.task_id, workflow_id=workflow_id)
        path = self.settings.workspace_root / ref.task_id
        done = await self.recorder.begin(ref, {"snapshot": inp.snapshot, "lost": inp.lost_host})
        if self._mine(done):
            return self._here(path, inp.snapshot)
        if done is not None:
            return await self._take_over(ref, path, done, inp.snapshot)
        await self._restore(ref, path, inp.snapshot)
        data = {
            "host": self.settings.host_label,
            "lost_host": inp.lost_host,  # the lost host's label (setup_workspace returned it)
            "snapshot": inp.snapshot,
        }
        log.warning("workspace restored from snapshot", **data)
        restored: WorkspaceStepOutput = {
            "path": WORKSPACE,
            "host": self.settings.host_label,
            "lost_host": inp.lost_host,
            "snapshot": inp.snapshot,
        }
        await self.recorder.finish(
            ref, restored, events=[(Channel.LIFECYCLE, EventType.WORKSPACE_RESTORED, data)]
        )
        return self._here(path, inp.snapshot)

    @activity.defn(name="mark_task")
    async def mark_task(self, inp: MarkInput) -> None:
        """Store a status the workflow set itself (paused, running again) with its event."""
        structlog.contextvars.bind_contextvars(
            task_id=inp.task_id, workflow_id=activity.info().workflow_id
        )
        async with self.sessions.begin() as session:
            await append_event(
                session,
                inp.task_id,
                channel=Channel(inp.channel),
                type=inp.event,
                data={"status": inp.status, **inp.data},
                # One event per pause/resume even when the activity is retried.
                dedupe_key=f"{inp.event}:{activity.info().workflow_run_id}:"
                f"{activity.info().activity_id}",
            )
            values: dict[str, Any] = {"status": inp.status, "pending_input": inp.pending}
            raised = inp.data.get("limits")
            if isinstance(raised, dict) and (task := await session.get(Task, inp.task_id)):
                # A raised budget: the task's view shows the limits now in force.
                limits = {**(task.limits or {}), **raised}
                steps = int(limits.get("max_steps") or task.max_steps)
                values.update(limits=limits, max_steps=steps)
            await session.execute(update(Task).where(Task.id == inp.task_id).values(**values))
            if inp.status == TaskStatus.INPUT_REQUIRED:  # the parent waits on a person too
                info = activity.info()
                waiting = {"status": inp.status, "pending": inp.data}
                key = f"{info.workflow_run_id}:{info.activity_id}"
                await tell_parent(session, inp.task_id, EventType.CHILD_WAITING, waiting, key)
        log.info("task status changed", status=inp.status, by=inp.data.get("by"))

    @activity.defn(name="record_event")
    async def record_event(self, inp: EventInput) -> None:
        """Write one event the workflow decided on (once, even when retried)."""
        async with self.sessions.begin() as session:
            await append_event(
                session,
                inp.task_id,
                channel=Channel(inp.channel),
                type=inp.type,
                data=HostView(self.settings, self.settings.workspace_root / inp.task_id).data(
                    inp.data
                ),
                dedupe_key=f"{inp.dedupe_key}:{activity.info().workflow_run_id}",
            )

    @activity.defn(name="finish_task")
    async def finish_task(self, inp: FinishInput) -> None:
        """Store the final status and result; close steps left open; emit the final event."""
        status = TaskStatus(inp.status)
        structlog.contextvars.bind_contextvars(
            task_id=inp.task_id, workflow_id=activity.info().workflow_id
        )
        # A failed activity's message may name a workspace path (an OSError of a snapshot).
        view = HostView(self.settings, self.settings.workspace_root / inp.task_id)
        output, error = view.data(inp.output), view.data(inp.error)
        run_id = str(activity.info().workflow_run_id)
        answer = (output or {}).get("answer")
        ended = {"status": status, "usage": dict(inp.usage.__dict__),
                 "answer": None if answer is None else str(answer)[:200],
                 "error": error.get("message") if error else None}  # fmt: skip

        def work(session: Session) -> None:
            # Per run: a task retried after failing (a new run) finishes again.
            record_finish(
                session,
                inp.task_id,
                status,
                run_id=run_id,
                output=output,
                error=error,
                usage=dict(inp.usage.__dict__),
            )
            tell_parent_now(session, inp.task_id, EventType.CHILD_FINISHED, ended, run_id)

        # One go: on SQLite the write lock is not held across event-loop cycles.
        await write(self.sessions, work)
        log.info("task finished", status=status)
