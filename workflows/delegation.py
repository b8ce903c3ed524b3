"""Delegation of AgentTaskWorkflow: `delegate` starts a child task, `await_task` collects one.

An activity checks the guards and creates the child's row and input; the workflow then starts
the child as a child workflow with the child's task id as its workflow id (a replayed or retried
parent never starts it twice). A waited child is awaited here (canceling the parent cancels it);
one started without wait is abandoned to run on its own, collected later by `await_task`, and
canceled if the parent is canceled. An activity writes each tool result from the child's row.
A collected child's usage is added to the parent's, once (docs/multi-agent.md#delegation).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ChildWorkflowError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.delegation import DelegationActivities
    from activities.types import ToolCall, ToolResult
    from cape.contracts.delegation import (
        AWAIT_TOOL,
        DELEGATE_TOOL,
        ChildOutcome,
        CollectInput,
        DelegateInput,
    )
    from cape.domain import StepKind
    from cape.tasks.delegation_args import BadArguments, parse_await
    from cape.tasks.start import TaskStart, task_start
    from workflows.human_input import HumanInput
    from workflows.types import AgentTaskInput

# Canceling a task cancels the tasks it delegated that still run (issue 17).
DELEGATION_PATCH = "delegation"
COLLECT_MARGIN = timedelta(seconds=60)


class Delegation(HumanInput):
    """The delegation tools and the children they started."""

    def __init__(self) -> None:
        super().__init__()
        # id -> "waited" (running, awaited), "detached" (running on its own) or "collected"
        self._children: dict[str, str] = {}

    async def _start_child(
        self, start: TaskStart, policy: workflow.ParentClosePolicy
    ) -> workflow.ChildWorkflowHandle[Any, Any]:
        """Start the child's AgentTaskWorkflow by reference (the workflow class does it)."""
        raise NotImplementedError

    async def _delegation_tool(self, inp: AgentTaskInput, call: ToolCall) -> ToolResult:
        """Run a `delegate` or `await_task` call; its result is the model's, like any tool's."""
        if call.name == DELEGATE_TOOL:
            return await self._delegate(inp, call)
        return await self._await_task(inp, call)

    async def _delegate(self, inp: AgentTaskInput, call: ToolCall) -> ToolResult:
        name = f"tool: {DELEGATE_TOOL}"
        ref = self._ref(name, StepKind.TOOL)
        if call.name in inp.approval_tools:  # `approval: true` on delegate: a person decides
            denied = await self._approve(ref.step_no, call)
            if denied is not None:
                refused = CollectInput(inp.task_id, ref.step_no, call.id, "", "denied",
                                       call.arguments, refused=denied)  # fmt: skip
                return self._took(await self._collect(refused))
        prep = await self._step(
            name,
            DelegationActivities.prepare_delegation,
            DelegateInput(inp.task_id, ref.step_no, call.id, call.arguments, self._ws),
            inp.tuning.tool_timeout_seconds,
        )
        if prep.error is not None or prep.input is None:
            return ToolResult(False, prep.error or "error: not delegated")
        child_id = prep.child_id
        start = task_start(prep.input, workflow.info().task_queue, prep.team_id)
        policy = workflow.ParentClosePolicy.REQUEST_CANCEL
        if not prep.wait:
            policy = workflow.ParentClosePolicy.ABANDON  # detached: it may outlive the parent
        self._children[child_id] = "waited" if prep.wait else "detached"
        handle = None
        # Started already (a parent reset to an earlier point): followed through its row.
        with contextlib.suppress(WorkflowAlreadyStartedError):
            handle = await self._start_child(start, policy)
        collect = CollectInput(inp.task_id, ref.step_no, call.id, child_id, "started",
                               call.arguments)  # fmt: skip
        if not prep.wait:
            if handle is not None:
                handle.add_done_callback(_retrieved)
            return self._took(await self._collect(collect))
        self._state.waiting_for = f"delegated task {child_id} ({prep.agent})"
        self._show_progress(f"waiting for delegated task {child_id}")
        if handle is not None:
            try:
                await handle
            except ChildWorkflowError as err:
                # Its row says how it ended; only a terminated child leaves it unfinished.
                collect.ended = f"ended: {err.cause or err}"
        self._state.waiting_for = None
        # Its workflow ended: the row says how at once. Started by someone else (the
        # reconciler restarted its row while this parent was down): follow the row to its end.
        collect.mode = "wait"
        collect.timeout_seconds = 30.0 if handle is not None else start.run_timeout.total_seconds()
        return self._took(await self._collect(collect))

    async def _await_task(self, inp: AgentTaskInput, call: ToolCall) -> ToolResult:
        name = f"tool: {AWAIT_TOOL}"
        ref = self._ref(name, StepKind.TOOL)
        collect = CollectInput(inp.task_id, ref.step_no, call.id, "", "await", call.arguments)
        try:
            collect.child_id, collect.timeout_seconds = parse_await(call.arguments)
        except BadArguments as exc:
            collect.refused = str(exc)
        if collect.child_id:
            self._state.waiting_for = f"delegated task {collect.child_id}"
        try:
            return self._took(await self._collect(collect))
        finally:
            self._state.waiting_for = None

    async def _collect(self, collect: CollectInput) -> ChildOutcome:
        tuning = self._task.tuning
        name = f"tool: {AWAIT_TOOL if collect.mode == 'await' else DELEGATE_TOOL}"
        self._state.current_step = name
        return await workflow.execute_activity_method(
            DelegationActivities.collect_child,
            collect,
            start_to_close_timeout=timedelta(seconds=collect.timeout_seconds) + COLLECT_MARGIN,
            heartbeat_timeout=timedelta(seconds=tuning.heartbeat_timeout_seconds),
            retry_policy=self._bookkeeping_retry(),
            summary=f"{name}: {collect.child_id}"[:200],
        )

    def _took(self, outcome: ChildOutcome) -> ToolResult:
        """The model's result; a child that ended adds its usage to the parent's, once."""
        child = outcome.child_id
        if outcome.collected and child and self._children.get(child) != "collected":
            self._state.usage.add(outcome.usage)
            self._children[child] = "collected"
        return ToolResult(outcome.ok, outcome.content)

    async def _cancel_children(self) -> None:
        """The parent is canceled: cancel the tasks it delegated that may still run."""
        running = [c for c, how in self._children.items() if how != "collected"]
        if not running or not workflow.patched(DELEGATION_PATCH):
            return
        for child in running:
            with contextlib.suppress(Exception):  # ended meanwhile: nothing to cancel
                await workflow.get_external_workflow_handle(child).cancel()


def _retrieved(child: asyncio.Future[Any]) -> None:
    # A detached child's end is read from its row: this only marks a failure as seen.
    if not child.cancelled():
        child.exception()
