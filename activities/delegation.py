"""The delegation activities: prepare a child task (guards, row, input) and collect its result.

The workflow starts the child itself, as a child workflow, between the two (docs/multi-agent.md).
Both write the parent's tool step, so the model reads the outcome like any tool's: a refused
call, a failed child or a child still running is a tool error, never a failed parent.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.heartbeat import heartbeating
from activities.recorder import Event, StepRecorder
from activities.types import StepRef
from cape.assign.event import recorded_alternatives
from cape.contracts.delegation import (
    AWAIT_TOOL,
    COLLECT_CHILD_ACTIVITY,
    DELEGATE_TOOL,
    DELEGATED_RELATION,
    PREPARE_DELEGATION_ACTIVITY,
    ChildOutcome,
    CollectInput,
    DelegateInput,
    DelegatePrepared,
)
from cape.contracts.failures import Failure
from cape.contracts.steps import ToolStepOutput, read_tool
from cape.contracts.task_input import Alternative, Usage, WorkspaceResult
from cape.db.events import append_event
from cape.db.models import Task
from cape.domain import Channel, EventType, StepKind, StepStatus
from cape.registry.resolve import load_spec
from cape.settings import Settings
from cape.tasks.delegation import FINAL, Refused, create_child
from cape.tasks.delegation_args import BadArguments, parse_delegate
from cape.tasks.ids import new_task_id
from cape.tasks.rows import NewTask
from cape.tasks.workflow_input import workflow_input

log = structlog.get_logger(__name__)
POLL_SECONDS = 0.5  # how often a waiting `await_task` looks at the child's row
BRIEF_CHARS = 500  # history keeps a preview; the model reads the whole result from the step
SHARED_DIR = "delegated"  # a child sharing the workspace works in `delegated/<child id>/`


def child_task_id(team_id: str, parent_id: str, step_no: int) -> str:
    """The child's id: derived from the parent's step, so a retried call finds the same child."""
    return new_task_id(team_id, f"delegate:{parent_id}:{step_no}")


class DelegationActivities:
    """Built in the worker with the database and the settings."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessions = sessions
        self.recorder = StepRecorder(sessions)
        self.settings = settings

    @activity.defn(name=PREPARE_DELEGATION_ACTIVITY)
    async def prepare_delegation(self, inp: DelegateInput) -> DelegatePrepared:
        """Check the guards and create the child's row and input; or record why not."""
        ref = StepRef(inp.task_id, inp.step_no, f"tool: {DELEGATE_TOOL}", StepKind.TOOL)
        structlog.contextvars.bind_contextvars(task_id=inp.task_id, step_no=inp.step_no)
        started = await self.recorder.start(
            ref, {"tool": DELEGATE_TOOL, "arguments": inp.arguments}
        )
        if started.done is not None:  # refused before (the answer never reached Temporal)
            return DelegatePrepared(error=read_tool(started.done)["content"])
        try:
            args = parse_delegate(inp.arguments)
            async with self.sessions.begin() as session:
                prepared = await self._child(session, inp, args.wait, args.share_workspace, args)
        except (BadArguments, Refused) as exc:
            content = f"error: {exc}"
            await self._finish(ref, inp.call_id, False, content, {})
            log.info("delegation refused", reason=str(exc))
            return DelegatePrepared(error=content)
        return prepared

    async def _child(
        self, session: AsyncSession, inp: DelegateInput, wait: bool, share: bool, args: Any
    ) -> DelegatePrepared:
        # The parent's row is locked: parallel calls of one task see each other's children.
        parent = await session.get(Task, inp.task_id, with_for_update=True)
        if parent is None:
            raise Refused(f"task {inp.task_id} has no row")
        child_id = child_task_id(parent.team_id, parent.id, inp.step_no)
        found = await session.get(Task, child_id)
        if found is not None:  # created by an earlier attempt: the same child
            spec = await load_spec(session, found.agent, found.agent_version)
            new = NewTask.of(found)
            alternatives: list[Alternative] = await recorded_alternatives(session, found)
        else:
            child = await create_child(session, self.settings, parent, args, child_id)
            new, spec, alternatives = child.new, child.spec, child.alternatives
            data = {"agent": spec.name, "agent_version": new.agent_version, "wait": wait,
                    "share_workspace": share, "limits": new.limits,
                    "depth": child.depth}  # fmt: skip
            await append_event(
                session, parent.id, channel=Channel.LIFECYCLE, type=EventType.CHILD_STARTED,
                data={"child_id": child_id, **data}, step_no=inp.step_no,
                dedupe_key=f"child-started:{child_id}",
            )  # fmt: skip
        child_input = workflow_input(self.settings, new, spec)
        # Assigned by capability with every candidate busy: it waits for the first that frees.
        child_input.alternatives = alternatives
        if share:
            ws = inp.workspace
            path = f"{ws.path.rstrip('/')}/{SHARED_DIR}/{child_id}"
            child_input.shared_workspace = WorkspaceResult(path, ws.task_queue, ws.host)
        log.info("delegated task created", child_id=child_id, agent=spec.name, wait=wait)
        return DelegatePrepared(None, child_id, spec.name, wait, child_input, parent.team_id)

    @activity.defn(name=COLLECT_CHILD_ACTIVITY)
    async def collect_child(self, inp: CollectInput) -> ChildOutcome:
        """Write the call's result: the child started, its outcome, or that it still runs."""
        tool = AWAIT_TOOL if inp.mode == "await" else DELEGATE_TOOL
        ref = StepRef(inp.task_id, inp.step_no, f"tool: {tool}", StepKind.TOOL)
        own = inp.mode in ("await", "denied")  # its own step; a delegate's began in prepare
        if own:
            done = (await self.recorder.start(ref, {"tool": tool, "arguments": inp.arguments})).done
        else:
            done = await self.recorder.stored(ref)
        if done is not None:
            return _stored(done)
        if inp.refused is not None:
            await self._finish(ref, inp.call_id, False, f"error: {inp.refused}", {}, not own)
            return ChildOutcome(False, _brief(f"error: {inp.refused}"))
        if inp.mode == "started":
            content = (
                f"started delegated task {inp.child_id} without waiting; it runs on its own. "
                f"Call await_task with task_id {inp.child_id} for its result."
            )
            child = {"id": inp.child_id, "status": "running", "collected": False}
            await self._finish(ref, inp.call_id, True, content, child, other=True)
            return ChildOutcome(True, _brief(content), inp.child_id, "running")
        async with heartbeating():
            outcome = await self._outcome(inp)
        child = {"id": inp.child_id, "status": outcome.status, "collected": outcome.collected,
                 "usage": dict(outcome.usage.__dict__)}  # fmt: skip
        await self._finish(ref, inp.call_id, outcome.ok, outcome.content, child, not own)
        return replace(outcome, content=_brief(outcome.content))

    async def _outcome(self, inp: CollectInput) -> ChildOutcome:
        """The child's outcome once its row is final, waiting up to the call's timeout."""
        deadline = asyncio.get_running_loop().time() + inp.timeout_seconds
        while True:
            async with self.sessions() as session:
                task = await session.get(Task, inp.child_id, populate_existing=True)
            if task is None or task.parent_id != inp.task_id or task.relation != DELEGATED_RELATION:
                return ChildOutcome(
                    False, f"error: task {inp.child_id} is not a task this one delegated"
                )
            if task.status in FINAL:
                return _ended(task)
            if inp.ended is not None:  # its workflow ended without finishing the row
                return ChildOutcome(
                    False, f"error: delegated task {task.id} ({task.agent}) {inp.ended}",
                    task.id, inp.ended, _usage(task), True,
                )  # fmt: skip
            if asyncio.get_running_loop().time() >= deadline:
                return ChildOutcome(
                    False,
                    f"error: delegated task {task.id} ({task.agent}) is still {task.status}; "
                    "call await_task again later",
                    task.id,
                    str(task.status),
                )
            await asyncio.sleep(POLL_SECONDS)

    async def _finish(
        self,
        ref: StepRef,
        call_id: str,
        ok: bool,
        content: str,
        child: dict[str, Any],
        other: bool = False,
    ) -> None:
        """Finish the tool step; `other`: prepare_delegation began it (its attempts differ)."""
        output: ToolStepOutput = {"tool_call_id": call_id, "ok": ok, "content": content}
        if child:
            output["child"] = child
        if not ok:
            message = content.removeprefix("error: ")
            output["error"] = {"type": Failure.TOOL_ERROR, "message": message}
        tool = ref.name.removeprefix("tool: ")
        result = {"id": call_id, "name": tool, "ok": ok, "content": content}
        status = StepStatus.SUCCEEDED if ok else StepStatus.FAILED
        events: list[Event] = [(Channel.TOOLS, EventType.TOOL_RESULT, result)]
        await self.recorder.finish(
            ref, output, status=status, events=events, started_by_other=other
        )


def _ended(task: Task) -> ChildOutcome:
    """The tool result of a child that ended: its answer and output, or why it did not answer."""
    status, usage = str(task.status), _usage(task)
    head = f"delegated task {task.id} ({task.agent}) {status}"
    if status == "succeeded":
        output = dict(task.output or {})
        answer = output.pop("answer", None)
        text = f"{head}.\nanswer: {answer if answer is not None else '(none)'}"
        if output:
            text += f"\noutput: {json.dumps(output, default=str)}"
        return ChildOutcome(True, text, task.id, status, usage, True)
    reason = (task.error or {}).get("message") or "no reason recorded"
    return ChildOutcome(False, f"error: {head}: {reason}", task.id, status, usage, True)


def _usage(task: Task) -> Usage:
    if task.usage and task.usage.get("total_tokens"):
        known = {k: task.usage[k] for k in Usage.__dataclass_fields__ if k in task.usage}
        return Usage(**known)
    prompt, completion = task.prompt_tokens or 0, task.completion_tokens or 0
    return Usage(prompt, completion, prompt + completion, float(task.cost_usd or 0.0))


def _stored(done: dict[str, Any]) -> ChildOutcome:
    tool = read_tool(done)
    child = done.get("child") or {}
    usage = Usage(**child["usage"]) if isinstance(child.get("usage"), dict) else Usage()
    return ChildOutcome(
        tool["ok"], _brief(tool["content"]), str(child.get("id", "")),
        str(child.get("status", "")), usage, bool(child.get("collected")),
    )  # fmt: skip


def _brief(content: str) -> str:
    if len(content) <= BRIEF_CHARS:
        return content
    return content[:BRIEF_CHARS] + f" [... {len(content) - BRIEF_CHARS} more characters]"
