"""The tool step: run one tool call the model made, on the host that holds the workspace."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.channels import Messenger
from activities.heartbeat import heartbeating
from activities.hostview import HostView
from activities.recorder import Event, StepRecorder
from activities.snapshot_plan import SnapshotTooLarge
from activities.tools.base import (
    EventPublisher,
    Placement,
    Risk,
    ToolContext,
    ToolError,
    ToolOutput,
    ToolSpec,
)
from activities.tools.confine import workspace_bytes
from activities.tools.registry import get_tool, tools
from activities.tools.stream import OutputStream, StepStreams, stored_stream_bytes
from activities.types import StepRef, ToolInput, ToolResult
from activities.workspace import (
    note_progress,
    restore_snapshot,
    save_snapshot,
    snapshot_before,
)
from cape.artifacts import ArtifactStore
from cape.contracts.failures import Failure
from cape.contracts.steps import ToolStepOutput, read_tool
from cape.db.engine import read_only
from cape.domain import Channel, EventType, StepStatus
from cape.sandbox.degraded import SandboxRefused
from cape.sandbox.launcher import Sandbox
from cape.settings import Settings

log = structlog.get_logger(__name__)
BRIEF_CHARS = 500
# Output deltas wait this long for company (or the step's end) before their own transaction.
DELTA_HOLD_SECONDS = 0.05
ERROR_PREFIX = "error: "  # how the model reads a failed call (docs/tools.md)


def _changes(spec: ToolSpec) -> bool:
    # Only tools that may change the workspace need snapshots (READ ones and platform tools
    # leave it as it was).
    return spec.placement == Placement.WORKSPACE and spec.risk != Risk.READ


def _brief(content: str) -> str:
    # The model reads the whole content from the step row; workflow history only keeps a
    # preview, so hundreds of tool steps stay far below Temporal's history limits.
    if len(content) <= BRIEF_CHARS:
        return content
    return content[:BRIEF_CHARS] + f" [... {len(content) - BRIEF_CHARS} more characters]"


class ToolActivities:
    """Tool runs, built in the worker with the database, sandbox and artifact store."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        sandbox: Sandbox,
        store: ArtifactStore,
        publish_event: EventPublisher | None = None,
        messenger: Messenger | None = None,
    ) -> None:
        self.recorder = StepRecorder(sessions)
        self.publish_event = publish_event
        self.messenger = messenger
        self.reads = read_only(sessions)
        self.settings = settings
        self.sandbox = sandbox
        self.store = store
        tools()  # load the tool modules now, not in the event loop at the first call

    @activity.defn(name="run_tool")
    async def run_tool(self, inp: ToolInput) -> ToolResult:
        """Run the call; a tool error is returned to the model, not raised."""
        ref, call = inp.step, inp.call
        structlog.contextvars.bind_contextvars(
            task_id=ref.task_id, workflow_id=activity.info().workflow_id, step_no=ref.step_no
        )
        started = await self.recorder.start(ref, {"tool": call.name, "arguments": call.arguments})
        if (done := started.done) is not None:
            stored = read_tool(done)
            return ToolResult(stored["ok"], _brief(stored["content"]), stored.get("snapshot"))
        if inp.denied is not None:  # a person refused the call: the model hears why
            await self._finish(inp, None, inp.denied, False, None, None)
            return ToolResult(False, _brief(inp.denied))

        async def write(batch: list[dict[str, Any]]) -> None:
            events = [(Channel.TOOLS, EventType.TOOL_OUTPUT_DELTA, data) for data in batch]
            await self.recorder.emit_all(ref, events)

        step = StepStreams(write, started.again, DELTA_HOLD_SECONDS)
        try:
            return await self._run(inp, step, Path(inp.workspace))
        finally:
            step.close()

    async def _run(self, inp: ToolInput, step: StepStreams, workspace: Path) -> ToolResult:
        ref, call = inp.step, inp.call
        spec: ToolSpec | None = None
        out: ToolOutput | None = None
        restored: str | None = None
        try:
            spec = self._spec(inp)
            # A step run again starts from the workspace as it was before its first run.
            if step.again and _changes(spec):
                restored = await self._rewind(ref, workspace)
            out = await self._call(inp, spec, workspace, step)
            content, ok = out.content, True
        except (ToolError, SandboxRefused) as exc:
            content, ok = f"{ERROR_PREFIX}{exc}", False
        except OSError as exc:
            content, ok = f"{ERROR_PREFIX}{exc.strerror or exc}", False
        except Exception as exc:  # a tool bug must not kill the task: the model sees it
            log.exception("tool raised", tool=call.name)
            content, ok = (
                f"{ERROR_PREFIX}internal error in {call.name}: {type(exc).__name__}: {exc}",
                False,
            )
        snapshot, note = await self._after(inp, spec, workspace, ok)
        content += note
        if ok and spec is not None and spec.risk == Risk.EXECUTE:
            content = await asyncio.to_thread(self._quota_note, workspace, content)
        # Tools speak of host paths (git, tracebacks, `pwd` in the degraded sandbox): the model
        # and clients see them as inside the task.
        view = HostView(self.settings, workspace)
        content = view.text(content)
        if out is not None:
            out = replace(out, records=view.data(out.records), isolation=view.data(out.isolation))
        held = [(Channel.TOOLS, EventType.TOOL_OUTPUT_DELTA, d) for d in await step.deltas.take()]
        await self._finish(inp, out, content, ok, snapshot, restored, held)
        return ToolResult(ok, _brief(content), snapshot)

    async def _rewind(self, ref: StepRef, workspace: Path) -> str | None:
        """Put the workspace back as it was before this step's earlier, failed execution."""
        if not self.settings.workspace_snapshots:
            return None
        snap = await snapshot_before(self.store, ref.task_id, ref.step_no)
        if snap is None:
            return None
        async with heartbeating():  # a large workspace takes a while to restore
            await restore_snapshot(self.store, ref.task_id, snap, workspace)
        await asyncio.to_thread(self.sandbox.prepare_workspace, workspace)
        log.info("workspace rewound before running the step again", snapshot=snap)
        return snap

    def _spec(self, inp: ToolInput) -> ToolSpec:
        if inp.allowed is not None and inp.call.name not in inp.allowed:
            raise ToolError(
                f"tool {inp.call.name!r} is not available to this agent; "
                f"available: {', '.join(inp.allowed) or 'none'}"
            )
        return get_tool(inp.call.name)

    async def _call(
        self, inp: ToolInput, spec: ToolSpec, workspace: Path, step: StepStreams
    ) -> ToolOutput:
        try:
            args = spec.validate(json.loads(inp.call.arguments or "{}"))
        except ValueError as exc:
            raise ToolError(f"arguments are not valid JSON: {exc}") from None
        if not await asyncio.to_thread(workspace.is_dir):
            raise ToolError("the task's workspace no longer exists on this host")
        if spec.needs_isolation:
            await self.sandbox.check_isolation()  # SandboxRefused: nothing of the tool runs
        ref, attempt = inp.step, activity.info().attempt

        async def used() -> int:
            return await stored_stream_bytes(self.reads, ref.task_id)

        base = {"id": inp.call.id, "attempt": attempt}
        output = OutputStream(self.settings, ref.task_id, base, step.deltas.add, used)
        # Counted as stored until the step's closing transaction has written what is held.
        step.closing.append(output.close)
        # Host paths are rewritten before the stream counts and stores what clients will see.
        stream = HostView(self.settings, workspace).stream(output)
        ctx = ToolContext(
            task_id=ref.task_id,
            step_no=ref.step_no,
            workspace=workspace,
            settings=self.settings,
            sandbox=self.sandbox,
            artifacts=self.store,
            emit_output=stream.write,
            limits=inp.limits,
            publish_event=self.publish_event,
            # The fences of the task's locks: a program passes its resource's with each write.
            env={"CAPE_LOCK_FENCES": json.dumps(inp.lock_fences)} if inp.lock_fences else None,
            messenger=self.messenger,
            messages=inp.messages,
        )
        try:
            async with heartbeating():
                return await spec.handler(ctx, args)
        finally:
            await stream.flush()

    async def _after(
        self, inp: ToolInput, spec: ToolSpec | None, workspace: Path, ok: bool
    ) -> tuple[str | None, str]:
        """The step's snapshot id (None if none was stored), and a note for the model."""
        if spec is None or not await asyncio.to_thread(workspace.is_dir):
            return None, ""
        status = "ok" if ok else "error"
        line = f"step {inp.step.step_no}: {inp.call.name} ({status})"
        await asyncio.to_thread(note_progress, workspace, line)
        if not (self.settings.workspace_snapshots and _changes(spec)):
            return None, ""
        ref = inp.step
        try:
            async with heartbeating():  # thousands of files take longer than a heartbeat
                snap = await save_snapshot(
                    self.store, ref.task_id, ref.step_no, workspace, self.settings
                )
        except SnapshotTooLarge as exc:
            log.warning("workspace not snapshotted", reason=str(exc))
            return None, f"\n[{exc}]"
        return snap, ""

    def _quota_note(self, workspace: Path, content: str) -> str:
        used = workspace_bytes(workspace)
        quota = self.settings.workspace_quota_mb * 1024 * 1024
        if used <= quota:
            return content
        return (
            f"{content}\n[workspace over quota: {used // 1024 // 1024} MiB of "
            f"{self.settings.workspace_quota_mb} MiB; delete files before writing more]"
        )

    async def _finish(
        self,
        inp: ToolInput,
        out: ToolOutput | None,
        content: str,
        ok: bool,
        snap: str | None,
        restored: str | None,
        held: Sequence[Event] = (),
    ) -> None:
        call = inp.call
        output: ToolStepOutput = {"tool_call_id": call.id, "ok": ok, "content": content}
        events: list[Event] = list(held)  # the output comes before the result
        if restored is not None:
            output["restored_from"] = restored
            data = {"snapshot": restored, "reason": "step run again"}
            events.append((Channel.LIFECYCLE, EventType.WORKSPACE_RESTORED, data))
        if out is not None:
            output["isolation"] = out.isolation
            output["artifacts"] = out.artifacts
            output["records"] = list(out.records)
            events += [(Channel.TOOLS, kind, data) for kind, data in out.records]
            for artifact_id in out.artifacts:
                task_id = inp.step.task_id
                info = self.store.recent(task_id, artifact_id) or await self.store.get(
                    task_id, artifact_id
                )
                data = {"id": info.id, "name": info.name, "media_type": info.media_type}
                events.append((Channel.ARTIFACTS, EventType.ARTIFACT_CREATED, data))
        if snap is not None:
            output["snapshot"] = snap
        if not ok:
            # The content says "error: ..." to the model; the error object has the type apart.
            message = content.removeprefix(ERROR_PREFIX)
            output["error"] = {"type": Failure.TOOL_ERROR, "message": message}
            log.info("tool error returned to the model", tool=call.name, error=content[:500])
        result = {"id": call.id, "name": call.name, "ok": ok, "content": content}
        events.append((Channel.TOOLS, EventType.TOOL_RESULT, result))
        status = StepStatus.SUCCEEDED if ok else StepStatus.FAILED
        await self.recorder.finish(inp.step, output, status=status, events=events)
