"""AgentTaskWorkflow: the durable agent loop; orchestration only, side effects are activities."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from activities.types import (
        CheckInput,
        CheckResult,
        EventInput,
        FinishInput,
        LlmInput,
        LlmResult,
        MarkInput,
        ModelChoice,
        RestoreInput,
        RetrievalInput,
        RetrievalResult,
        ToolCall,
        ToolInput,
        ToolResult,
        WorkspaceInput,
        WorkspaceResult,
    )
    from cape.contracts.failures import Failure
    from cape.contracts.temporal import (
        AGENT_TASK_WORKFLOW,
        PAUSE_SIGNAL,
        PROVIDE_INPUT_UPDATE,
        RESUME_SIGNAL,
        STATE_QUERY,
        STATUS_KEY,
    )
    from workflows.rules import (
        check_answer,
        describe,
        exceeded,
        host_lost,
        model_failed,
        models,
        tool_summary,
    )
    from workflows.steps import StepRunner
    from workflows.types import (
        AgentTaskInput,
        AgentTaskResult,
        Carry,
        InputAnswer,
        PauseRequest,
        TaskState,
    )

# Tool steps run on the task queue of the host holding the workspace (issue 4); histories
# recorded before ran them on the shared queue and must replay unchanged.
HOST_QUEUE_PATCH = "workspace-host-queue"
# Running out of max_steps asks for a bigger budget (issue 3) instead of failing the task.
BUDGET_INPUT_PATCH = "budget-asks-for-input"
# The Web UI's current details show the task's end (issue 12 B4), not its last running step.
FINAL_DETAILS_PATCH = "final-current-details"
# A raised budget is stored with the task (issue 12 B2), so its view shows the limits in force.
RAISED_LIMITS_PATCH = "raised-limits-stored"
OUTPUT_RETRIES = 2  # how often the model may repair an answer that misses the output schema


class _Ended(Exception):
    """The task ends early in a recorded state (expired input, canceled by its owner)."""

    def __init__(self, status: str, error: dict[str, Any]) -> None:
        super().__init__(error["message"])
        self.status, self.error = status, error


@workflow.defn(name=AGENT_TASK_WORKFLOW)
class AgentTaskWorkflow(StepRunner):
    """Workspace setup, then LLM turns and the tool calls they ask for, until an answer."""

    def __init__(self) -> None:
        super().__init__()
        self._failover_lock = asyncio.Lock()
        self._input_lock = asyncio.Lock()
        self._pause_request = PauseRequest()
        self._answer: InputAnswer | None = None
        self._model_index = 0
        self._asked = 0

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
    def provide_input(self, answer: InputAnswer) -> dict[str, Any]:
        """Answer the pending approval or budget question; the loop carries on with it."""
        self._answer = answer
        return {"request_id": answer.request_id, "action": answer.action, "accepted": True}

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
                self._ws = await self._setup(inp)
            self._set_status("running")
            if inp.mode == "retrieval":
                output = await self._retrieve(inp)
            else:
                output = await self._loop(inp)
        except ActivityError as err:
            if isinstance(err.cause, CancelledError):
                await self._finish("canceled")
                raise
            error = describe(err, self._state.current_step)
            await self._finish("failed", error=error)
            raise ApplicationError(error["message"], error, type=Failure.TASK_FAILED) from err
        except _Ended as ended:
            await self._finish(ended.status, error=ended.error)
            if ended.status == "timed_out":
                raise ApplicationError(
                    ended.error["message"], ended.error, type=ended.error["type"]
                ) from None
            return self._result(None)
        except ApplicationError as err:
            error = {"type": err.type or Failure.UNTYPED, "message": err.message}
            await self._finish("failed", error=error)
            raise
        except asyncio.CancelledError:
            # Cancellation is a request, not a crash: record it, then let it propagate.
            await self._finish("canceled")
            raise
        await self._finish("succeeded", output=output)
        return self._result(output)

    def _result(self, output: dict[str, Any] | None) -> AgentTaskResult:
        answer = output.get("answer") if output else None
        return AgentTaskResult(
            answer=answer if isinstance(answer, str) or answer is None else str(answer),
            steps=self._state.steps,
            usage=self._state.usage,
        )

    async def _setup(self, inp: AgentTaskInput) -> WorkspaceResult:
        ws = await self._step(
            "workspace",
            "workspace",
            "setup_workspace",
            WorkspaceInput(
                self._ref("workspace", "workspace"),
                inp.title,
                inp.prompt_preview,
                inp.registration,
                inp.seed,
            ),
            WorkspaceResult,
            inp.tuning.tool_timeout_seconds,
        )
        if inp.start_step:  # a fork: the parent's steps before this one were copied
            self._step_no = inp.start_step - 1
        return ws

    async def _retrieve(self, inp: AgentTaskInput) -> dict[str, Any]:
        name = "retrieval: docs"
        params = dict(inp.retrieval or {})
        result = await self._step(
            name,
            "retrieval",
            "answer_from_docs",
            RetrievalInput(self._ref(name, "retrieval"), **params),
            RetrievalResult,
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
            llm = await self._llm_turn(inp)
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
            "check",
            "check_output",
            CheckInput(self._ref(name, "check"), answer, inp.output_schema, repairs),
            CheckResult,
            inp.tuning.llm_timeout_seconds,
        )

    async def _llm_turn(self, inp: AgentTaskInput) -> LlmResult:
        choices = models(inp)
        while True:
            choice = choices[self._model_index]
            name = f"llm: {choice.name}"
            arg = LlmInput(
                self._ref(name, "llm"),
                choice.name,
                inp.system_prompt,
                inp.tools,
                choice.provider,
                inp.temperature,
                inp.call_max_tokens,
            )
            try:
                llm = await self._step(
                    name, "llm", "call_llm", arg, LlmResult, inp.tuning.llm_timeout_seconds
                )
            except ActivityError as err:
                if self._model_index + 1 >= len(choices) or not model_failed(err):
                    raise
                await self._fall_back(choices, describe(err, name))
                continue
            self._state.llm_turns += 1
            self._state.usage.add(llm.usage)
            return llm

    async def _fall_back(self, models: list[ModelChoice], reason: dict[str, Any]) -> None:
        assert self._input is not None
        failed, self._model_index = models[self._model_index], self._model_index + 1
        chosen = models[self._model_index]
        record = {
            "from": f"{failed.provider}/{failed.name}",
            "to": f"{chosen.provider}/{chosen.name}",
            "reason": reason,
            "step": self._step_no,
        }
        workflow.logger.warning("model %s failed; falling back to %s", failed.name, chosen.name)
        self._state.model = chosen.name
        self._state.fallbacks.append(record)
        await self._event("lifecycle", "model-fallback", record, f"fallback:{self._step_no}")

    async def _tool(self, inp: AgentTaskInput, call: ToolCall) -> ToolResult:
        name = f"tool: {call.name}"
        ref = self._ref(name, "tool")
        summary = tool_summary(call.name, call.arguments)
        denied = None
        if call.name in inp.approval_tools:
            denied = await self._approve(ref.step_no, call)
        while True:
            queue = self._tool_queue()
            try:
                result = await self._step(
                    name,
                    "tool",
                    "run_tool",
                    ToolInput(ref, self._ws.path, call, inp.tool_limits, inp.tools, denied),
                    ToolResult,
                    inp.tuning.tool_timeout_seconds,
                    task_queue=queue,
                    summary=summary,
                )
            except ActivityError as err:
                if queue is None or not host_lost(err):
                    raise
                # The step never started (its host is gone), so it is retried under the same
                # step number once the workspace lives somewhere else.
                await self._failover(inp, lost=self._ws.host)
                continue
            if result.snapshot:
                self._ws.snapshot = result.snapshot
            return result

    async def _approve(self, step_no: int, call: ToolCall) -> str | None:
        """Wait for a person to approve the call; the refusal reason when they do not."""
        answer = await self._ask(
            {
                "id": f"approval-{step_no}",
                "kind": "approval",
                "step_no": step_no,
                "tool": call.name,
                "call_id": call.id,
                "arguments": call.arguments,
            }
        )
        if answer.action == "approve":
            return None
        if answer.action == "cancel":
            raise _Ended("canceled", _canceled(answer))
        who = f" by {answer.by}" if answer.by else ""
        return f"The call was rejected{who}" + (f": {answer.reason}" if answer.reason else ".")

    async def _check_budget(self) -> None:
        state = self._state
        deadline = state.limits.get("deadline")
        if deadline and workflow.now().isoformat() >= deadline:
            raise _Ended(
                "timed_out",
                {
                    "type": Failure.TASK_TIMEOUT,
                    "message": f"the task ran past its deadline {deadline}",
                },
            )
        over = exceeded(state.limits, state.usage, state.llm_turns)
        if over is None:
            return
        if over["exceeded"] == "max_steps" and not workflow.patched(BUDGET_INPUT_PATCH):
            raise ApplicationError(
                f"max_steps ({over['limit']}) reached before the agent answered",
                type=Failure.MAX_STEPS_REACHED,
                non_retryable=True,
            )
        self._asked += 1
        answer = await self._ask(
            {"id": f"budget-{self._step_no}-{self._asked}", "kind": "budget", **over}
        )
        if answer.action == "cancel":
            raise _Ended("canceled", _canceled(answer))
        state.limits.update(_raised(answer))

    async def _ask(self, question: dict[str, Any]) -> InputAnswer:
        """Wait in `input_required` for `provide_input`, up to the input timeout."""
        assert self._input is not None
        async with self._input_lock:  # parallel calls needing approval are asked one by one
            timeout = self._input.tuning.input_timeout_seconds
            expires = workflow.now() + timedelta(seconds=timeout)
            pending = {**question, "expires_at": expires.isoformat()}
            self._state.pending_input = pending
            await self._mark("input_required", "input-required", pending, pending=pending)
            self._show_progress(f"waiting for input: {pending['id']}")
            try:
                await workflow.wait_condition(
                    lambda: self._answer is not None, timeout=timedelta(seconds=timeout)
                )
            except TimeoutError:
                await self._event("input", "input-expired", pending, f"expired:{pending['id']}")
                raise _Ended(
                    "timed_out",
                    {
                        "type": Failure.INPUT_EXPIRED,
                        "message": f"no answer to {pending['id']} within {timeout:g} s",
                        "pending": pending,
                    },
                ) from None
            answer, self._answer = self._answer, None
            assert answer is not None
            self._state.pending_input = None
            received = {"id": pending["id"], "action": answer.action, "by": answer.by}
            received["reason"] = answer.reason
            raised = _raised(answer)
            if raised and workflow.patched(RAISED_LIMITS_PATCH):
                received["limits"] = raised  # mark_task stores them in the task's row
            await self._mark("running", "input-received", received, pending=None)
            return answer

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
        )
        workflow.logger.info("continuing as new after step %s", self._step_no)
        workflow.continue_as_new(
            replace(inp, carry=carry, registration=None, seed=None, start_step=0)
        )

    def _take_carry(self, carry: Carry) -> None:
        state = self._state
        self._step_no, self._ws = carry.step_no, carry.workspace
        self._model_index = carry.model_index
        state.steps, state.llm_turns, state.usage = carry.steps, carry.llm_turns, carry.usage
        state.limits, state.fallbacks, state.runs = carry.limits, carry.fallbacks, carry.runs + 1
        assert self._input is not None
        state.model = models(self._input)[self._model_index].name

    def _tool_queue(self) -> str | None:
        # Every tool step runs on the workspace's host, platform tools too: they are cheap
        # there, and a lost host is noticed (and the workspace moved) at the next step.
        if not self._ws.task_queue:
            return None
        return self._ws.task_queue if workflow.patched(HOST_QUEUE_PATCH) else None

    async def _failover(self, inp: AgentTaskInput, lost: str) -> None:
        async with self._failover_lock:
            if self._ws.host != lost:
                return  # a parallel tool call already moved the workspace
            if not self._ws.snapshot:
                raise ApplicationError(
                    f"the workspace's host {lost!r} did not take a step within "
                    f"{inp.tuning.host_timeout_seconds:g} s and the workspace has no snapshot "
                    "to restore elsewhere",
                    {"host": lost},
                    type=Failure.WORKSPACE_HOST_LOST,
                    non_retryable=True,
                )
            workflow.logger.warning("workspace host %s lost; restoring its snapshot", lost)
            name = "workspace: restore"
            self._ws = await self._step(
                name,
                "workspace",
                "restore_workspace",
                RestoreInput(self._ref(name, "workspace"), self._ws.snapshot, lost),
                WorkspaceResult,
                inp.tuning.tool_timeout_seconds,
            )

    async def _hold(self) -> None:
        """Sit paused (status `paused`, no step running) until `resume` or a cancellation."""
        request = self._pause_request
        await self._mark("paused", "task-paused", {"by": request.by, "note": request.note})
        await workflow.wait_condition(lambda: not self._state.paused)
        request = self._pause_request
        await self._mark("running", "task-resumed", {"by": request.by, "note": request.note})

    async def _mark(
        self,
        status: str,
        event: str,
        data: dict[str, Any],
        *,
        pending: dict[str, Any] | None = None,
    ) -> None:
        assert self._input is not None
        channel = "input" if event.startswith("input-") else "lifecycle"
        await workflow.execute_activity(
            "mark_task",
            MarkInput(self._input.task_id, status, event, data, channel, pending),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=self._bookkeeping_retry(),
            summary=f"status: {status}",
        )
        self._set_status(status)

    async def _event(self, channel: str, type_: str, data: dict[str, Any], key: str) -> None:
        assert self._input is not None
        await workflow.execute_activity(
            "record_event",
            EventInput(self._input.task_id, channel, type_, data, key),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=self._bookkeeping_retry(),
            summary=f"event: {type_}",
        )

    async def _finish(
        self,
        status: str,
        output: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        assert self._input is not None
        self._state.error = error
        self._state.pending_input = None
        await workflow.execute_activity(
            "finish_task",
            FinishInput(self._input.task_id, status, output, error, self._state.usage),
            start_to_close_timeout=timedelta(seconds=30),
            # Recording the outcome must not give up while the database is briefly away.
            retry_policy=self._bookkeeping_retry(),
            summary=f"finish: {status}",
        )
        self._set_status(status)
        if workflow.patched(FINAL_DETAILS_PATCH):
            self._show_progress(_outcome(output, error), final=True)

    def _bookkeeping_retry(self) -> RetryPolicy:
        assert self._input is not None
        return RetryPolicy(
            initial_interval=timedelta(seconds=self._input.tuning.retry_initial_seconds),
            maximum_interval=timedelta(seconds=30),
        )

    def _set_status(self, status: str) -> None:
        self._state.status = status
        workflow.upsert_search_attributes([STATUS_KEY.value_set(status)])


def _raised(answer: InputAnswer) -> dict[str, float]:
    """The budgets a `raise` answer sets (empty for other answers)."""
    if answer.action != "raise":
        return {}
    raised = {
        "max_steps": answer.max_steps,
        "max_tokens": answer.max_tokens,
        "max_cost": answer.max_cost,
    }
    return {k: v for k, v in raised.items() if v is not None}


def _outcome(output: dict[str, Any] | None, error: dict[str, Any] | None) -> str:
    """One line on how the task ended, for the Web UI's current details."""
    if error is not None:
        return f"{error.get('type', 'error')}: {str(error.get('message', ''))[:200]}"
    return "answered" if output is not None else "ended"


def _canceled(answer: InputAnswer) -> dict[str, Any]:
    who = f" by {answer.by}" if answer.by else ""
    reason = f": {answer.reason}" if answer.reason else ""
    return {
        "type": Failure.CANCELED_BY_USER,
        "message": f"canceled{who} while waiting for input{reason}",
    }
