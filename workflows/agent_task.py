"""AgentTaskWorkflow: the durable agent loop; orchestration only, side effects are activities.

Its parts live beside it: `steps` (numbering and running steps), `bookkeeping` (status, events,
the outcome), `human_input` (approvals, budget questions, pause) and `failover` (fallback models,
lost hosts). The handlers and the loop stay here, so this class is the workflow's interface.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from activities.checks import CheckActivities
    from activities.guide import GuideActivities
    from activities.task import TaskActivities
    from activities.tools.run import ToolActivities
    from activities.types import (
        CheckInput,
        CheckResult,
        RetrievalInput,
        ToolCall,
        ToolInput,
        ToolResult,
        WorkspaceInput,
        WorkspaceResult,
    )
    from cape.contracts.delegation import DELEGATION_TOOLS
    from cape.contracts.failures import Failure
    from cape.contracts.records import TaskError
    from cape.contracts.temporal import (
        AGENT_TASK_WORKFLOW,
        PAUSE_SIGNAL,
        PROVIDE_INPUT_UPDATE,
        RESUME_SIGNAL,
        STATE_QUERY,
    )
    from cape.domain import StepKind, TaskMode, TaskStatus
    from cape.tasks.start import TaskStart
    from workflows.channels import Channels
    from workflows.delegation import Delegation
    from workflows.failover import Failover
    from workflows.human_input import HumanInput, TaskEnded
    from workflows.rules import check_answer, describe, host_lost, models, tool_summary
    from workflows.steps import DEADLINE_IN_ROW_PATCH, RUNS_IN_ROW_PATCH
    from workflows.task_locks import TaskLocks
    from workflows.types import (
        AgentTaskInput,
        AgentTaskResult,
        Carry,
        InputAnswer,
        InputReceipt,
        PauseRequest,
        TaskState,
    )

OUTPUT_RETRIES = 2  # how often the model may repair an answer that misses the output schema


@workflow.defn(name=AGENT_TASK_WORKFLOW)
class AgentTaskWorkflow(Delegation, HumanInput, Failover, TaskLocks, Channels):
    """Workspace setup, then LLM turns and the tool calls they ask for, until an answer."""

    @workflow.query(name=STATE_QUERY)
    def state(self) -> TaskState:
        """Live progress: status, current step, counts, usage and what the task waits for."""
        return self._state

    @workflow.signal(name=PAUSE_SIGNAL)
    def pause(self, request: PauseRequest) -> None:
        """Stop at the next step boundary (the running step finishes first)."""
        self._state.paused = True
        self._pause_request = request

    @workflow.signal(name=RESUME_SIGNAL)
    def resume(self, request: PauseRequest) -> None:
        """Carry on after a pause (or cancel a pause not reached yet)."""
        self._state.paused = False
        self._pause_request = request

    @workflow.update(name=PROVIDE_INPUT_UPDATE)
    def provide_input(self, answer: InputAnswer) -> InputReceipt:
        """Answer the pending approval or budget question; the loop carries on with it."""
        self._answer = answer
        return InputReceipt(answer.request_id, answer.action)

    @provide_input.validator
    def _validate_input(self, answer: InputAnswer) -> None:
        # Runs before the update enters history: a refused answer leaves no trace.
        state = self._state
        used = {
            "max_steps": state.llm_turns,
            "max_tokens": state.usage.total_tokens,
            "max_cost": state.usage.cost_usd,
        }
        check_answer(state.pending_input, self._answer is not None, answer, used)

    @workflow.run
    async def run(self, inp: AgentTaskInput) -> AgentTaskResult:
        """Run the agent loop to an answer, a failure, an ended wait or a cancellation."""
        if not inp.task_id:  # a schedule's run: the workflow id Temporal gave it is the task id
            inp.task_id = workflow.info().workflow_id
        self._input = inp
        self._state.model = inp.model
        self._state.limits = {
            "max_steps": inp.max_steps,
            "max_tokens": inp.max_tokens,
            "max_cost": inp.max_cost,
        }
        output: dict[str, Any] | None = None
        try:
            if inp.carry is not None:
                self._take_carry(inp.carry)
            else:
                if inp.timeout_seconds:
                    deadline = workflow.now() + timedelta(seconds=inp.timeout_seconds)
                    self._state.limits["deadline"] = deadline.isoformat()
                if inp.registration is None:  # still `queued` while it waits for a lock
                    await self._acquire_locks(inp)
                self._ws = await self._setup(inp)
                if inp.registration is not None:  # a schedule's run has its row only now
                    await self._acquire_locks(inp)
            self._set_status(TaskStatus.RUNNING)
            if inp.mode == TaskMode.RETRIEVAL:
                output = await self._retrieve(inp)
            else:
                output = await self._loop(inp)
        except ActivityError as err:
            if isinstance(err.cause, CancelledError):
                await self._cancel_children()
                await self._finish(TaskStatus.CANCELED)
                raise
            error = describe(err, self._state.current_step)
            await self._finish(TaskStatus.FAILED, error=error)
            raise ApplicationError(error["message"], error, type=Failure.TASK_FAILED) from err
        except TaskEnded as ended:
            await self._finish(ended.status, error=ended.error)
            if ended.status == TaskStatus.TIMED_OUT:
                raise ApplicationError(
                    ended.error["message"], ended.error, type=ended.error["type"]
                ) from None
            return self._result(None)
        except ApplicationError as err:
            failed: TaskError = {"type": err.type or Failure.UNTYPED, "message": err.message}
            await self._finish(TaskStatus.FAILED, error=failed)
            raise
        except asyncio.CancelledError:
            # Cancellation is a request, not a crash: record it, then let it propagate.
            await self._cancel_children()
            await self._finish(TaskStatus.CANCELED)
            raise
        await self._finish(TaskStatus.SUCCEEDED, output=output)
        return self._result(output)

    def _result(self, output: dict[str, Any] | None) -> AgentTaskResult:
        answer = output.get("answer") if output else None
        return AgentTaskResult(
            answer=answer if isinstance(answer, str) or answer is None else str(answer),
            steps=self._state.steps,
            usage=self._state.usage,
        )

    async def _start_child(
        self, start: TaskStart, policy: workflow.ParentClosePolicy
    ) -> workflow.ChildWorkflowHandle[Any, Any]:
        return await workflow.start_child_workflow(
            AgentTaskWorkflow.run,
            start.input,
            **start.child_options(),
            parent_close_policy=policy,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )

    async def _setup(self, inp: AgentTaskInput) -> WorkspaceResult:
        # A delegated task sharing its parent's workspace sets up its sub-folder on that host.
        shared = inp.shared_workspace
        deadline = self._state.limits.get("deadline")
        if deadline is not None and not workflow.patched(DEADLINE_IN_ROW_PATCH):
            deadline = None  # a run started before the row kept it
        ws = await self._step(
            "workspace",
            TaskActivities.setup_workspace,
            WorkspaceInput(
                self._ref("workspace", StepKind.WORKSPACE),
                inp.title,
                inp.prompt_preview,
                inp.registration,
                inp.seed,
                shared.path if shared else None,
                deadline,
            ),
            inp.tuning.tool_timeout_seconds,
            task_queue=shared.task_queue or None if shared else None,
        )
        if inp.start_step:  # a fork: the parent's steps before this one were copied
            self._step_no = inp.start_step - 1
        return ws

    async def _retrieve(self, inp: AgentTaskInput) -> dict[str, Any]:
        name = "retrieval: docs"
        params = dict(inp.retrieval or {})
        result = await self._step(
            name,
            GuideActivities.answer_from_docs,
            RetrievalInput(self._ref(name, StepKind.RETRIEVAL), **params),
            inp.tuning.tool_timeout_seconds,
        )
        return result.output

    async def _loop(self, inp: AgentTaskInput) -> dict[str, Any]:
        repairs = OUTPUT_RETRIES
        while True:
            if self._state.paused:
                await self._hold()
            if self._history_full(inp):
                self._continue_as_new(inp)
            await self._check_budget()
            llm = await self._llm_turn()
            if llm.tool_calls:
                await asyncio.gather(*(self._tool(inp, call) for call in llm.tool_calls))
                continue
            if inp.output_schema is None:
                return {"answer": llm.content}
            check = await self._check_output(inp, llm.content, repairs)
            if check.ok and check.output is not None:
                return check.output
            if repairs == 0:
                raise ApplicationError(
                    "the agent's answer does not match its output schema: "
                    + "; ".join(check.problems),
                    {"problems": check.problems},
                    type=Failure.OUTPUT_INVALID,
                    non_retryable=True,
                )
            repairs -= 1  # the check step told the model what is wrong: it answers again

    async def _check_output(
        self, inp: AgentTaskInput, answer: str | None, repairs: int
    ) -> CheckResult:
        assert inp.output_schema is not None
        name = "check: output"
        return await self._step(
            name,
            CheckActivities.check_output,
            CheckInput(self._ref(name, StepKind.CHECK), answer, inp.output_schema, repairs),
            inp.tuning.llm_timeout_seconds,
        )

    async def _tool(self, inp: AgentTaskInput, call: ToolCall) -> ToolResult:
        if call.name in DELEGATION_TOOLS and call.name in inp.tools:
            return await self._delegation_tool(inp, call)
        name = f"tool: {call.name}"
        ref = self._ref(name, StepKind.TOOL)
        summary = tool_summary(call.name, call.arguments)
        denied = None
        if call.name in inp.approval_tools:
            denied = await self._approve(ref.step_no, call)
        messages = await self._take_messages(call)  # read_messages: workflows/channels.py
        while True:
            queue = self._tool_queue()
            try:
                result = await self._step(
                    name,
                    ToolActivities.run_tool,
                    ToolInput(
                        ref,
                        self._ws.path,
                        call,
                        inp.tool_limits,
                        inp.tools,
                        denied,
                        self._fences,
                        messages,
                    ),
                    inp.tuning.tool_timeout_seconds,
                    task_queue=queue,
                    summary=summary,
                )
            except ActivityError as err:
                if queue is None or not host_lost(err):
                    raise
                # The step never started (its host is gone), so it is retried under the same
                # step number once the workspace lives somewhere else.
                await self._failover(lost=self._ws.host)
                continue
            if result.snapshot:
                self._ws.snapshot = result.snapshot
            return result

    def _history_full(self, inp: AgentTaskInput) -> bool:
        info = workflow.info()
        limit = inp.tuning.history_events_limit
        if limit and info.get_current_history_length() >= limit:
            return True
        return info.is_continue_as_new_suggested()

    def _continue_as_new(self, inp: AgentTaskInput) -> None:
        state = self._state
        carry = Carry(
            step_no=self._step_no,
            steps=state.steps,
            llm_turns=state.llm_turns,
            usage=state.usage,
            workspace=self._ws,
            model_index=self._model_index,
            limits=state.limits,
            runs=state.runs,
            fallbacks=state.fallbacks,
            locks=self._held,
            children={c: how for c, how in self._children.items() if how != "waited"},
        )
        workflow.logger.info("continuing as new after step %s", self._step_no)
        workflow.continue_as_new(
            replace(
                inp, carry=self._carry_messages(carry), registration=None, seed=None, start_step=0
            )
        )

    def _take_carry(self, carry: Carry) -> None:
        state = self._state
        self._step_no, self._ws = carry.step_no, carry.workspace
        self._model_index = carry.model_index
        state.steps, state.llm_turns, state.usage = carry.steps, carry.llm_turns, carry.usage
        state.limits, state.fallbacks, state.runs = carry.limits, carry.fallbacks, carry.runs + 1
        if workflow.patched(RUNS_IN_ROW_PATCH):
            self._runs_to_record = state.runs  # the run's first step writes it to the row
        state.model = models(self._task)[self._model_index].name
        self._hold_locks(carry.locks)
        self._take_carried_messages(carry)
        self._children = dict(carry.children)
