"""AgentTaskWorkflow: the durable agent loop; orchestration only, side effects are activities."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, TypeVar, cast

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from activities.types import (
        FinishInput,
        LlmInput,
        LlmResult,
        StepRef,
        ToolCall,
        ToolInput,
        ToolResult,
        WorkspaceInput,
        WorkspaceResult,
    )
    from workflows.types import AgentTaskInput, AgentTaskResult, TaskState

STATUS_KEY = SearchAttributeKey.for_keyword("CapeStatus")
R = TypeVar("R")


@workflow.defn(name="AgentTaskWorkflow")
class AgentTaskWorkflow:
    """Workspace setup, then LLM turns and the tool calls they ask for, until an answer."""

    def __init__(self) -> None:
        self._state = TaskState()
        self._step_no = 0
        self._input: AgentTaskInput | None = None

    @workflow.query
    def state(self) -> TaskState:
        """Live progress: status, current step, counts and usage."""
        return self._state

    @workflow.run
    async def run(self, inp: AgentTaskInput) -> AgentTaskResult:
        """Run the agent loop to an answer, a failure or `max_steps`."""
        self._input = inp
        try:
            workspace = await self._step(
                "workspace",
                "workspace",
                "setup_workspace",
                WorkspaceInput(self._ref("workspace", "workspace"), inp.title, inp.prompt_preview),
                WorkspaceResult,
                inp.tuning.tool_timeout_seconds,
            )
            self._set_status("running")
            answer = await self._loop(inp, workspace.path)
        except ActivityError as err:
            if isinstance(err.cause, CancelledError):
                await self._finish("canceled")
                raise
            error = _describe(err, self._state.current_step)
            await self._finish("failed", error=error)
            raise ApplicationError(error["message"], error, type="TaskFailed") from err
        except ApplicationError as err:
            error = {"type": err.type or "ApplicationError", "message": err.message}
            await self._finish("failed", error=error)
            raise
        except asyncio.CancelledError:
            # Cancellation is a request, not a crash: record it, then let it propagate.
            await self._finish("canceled")
            raise
        await self._finish("succeeded", output={"answer": answer})
        return AgentTaskResult(answer=answer, steps=self._state.steps, usage=self._state.usage)

    async def _loop(self, inp: AgentTaskInput, workspace: str) -> str | None:
        for _ in range(inp.max_steps):
            name = f"llm: {inp.model}"
            llm = await self._step(
                name,
                "llm",
                "call_llm",
                LlmInput(self._ref(name, "llm"), inp.model, inp.system_prompt, inp.tools),
                LlmResult,
                inp.tuning.llm_timeout_seconds,
            )
            self._state.llm_turns += 1
            self._state.usage.add(llm.usage)
            if not llm.tool_calls:
                return llm.content
            await asyncio.gather(*(self._tool(inp, workspace, call) for call in llm.tool_calls))
        raise ApplicationError(
            f"max_steps ({inp.max_steps}) reached before the agent answered",
            type="MaxStepsReached",
            non_retryable=True,
        )

    async def _tool(self, inp: AgentTaskInput, workspace: str, call: ToolCall) -> ToolResult:
        name = f"tool: {call.name}"
        return await self._step(
            name,
            "tool",
            "run_tool",
            ToolInput(self._ref(name, "tool"), workspace, call),
            ToolResult,
            inp.tuning.tool_timeout_seconds,
        )

    def _ref(self, name: str, kind: str) -> StepRef:
        assert self._input is not None
        self._step_no += 1
        return StepRef(self._input.task_id, self._step_no, name, kind)

    async def _step(
        self, name: str, kind: str, activity: str, arg: Any, result: type[R], timeout: float
    ) -> R:
        assert self._input is not None
        tuning = self._input.tuning
        self._state.current_step = name
        self._state.steps += 1
        return cast(
            R,
            await workflow.execute_activity(
                activity,
                arg,
                result_type=result,
                start_to_close_timeout=timedelta(seconds=timeout),
                heartbeat_timeout=timedelta(seconds=tuning.heartbeat_timeout_seconds),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=tuning.retry_initial_seconds),
                    maximum_interval=timedelta(seconds=max(60.0, tuning.retry_initial_seconds)),
                    maximum_attempts=tuning.retry_max_attempts,
                ),
                summary=name,
                # Waiting for the step to stop keeps finish_task's event the task's last: with
                # TRY_CANCEL a streaming LLM step went on writing deltas after `task-canceled`.
                cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            ),
        )

    async def _finish(
        self,
        status: str,
        output: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        assert self._input is not None
        self._state.error = error
        await workflow.execute_activity(
            "finish_task",
            FinishInput(self._input.task_id, status, output, error, self._state.usage),
            start_to_close_timeout=timedelta(seconds=30),
            # Recording the outcome must not give up while the database is briefly away.
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=self._input.tuning.retry_initial_seconds),
                maximum_interval=timedelta(seconds=30),
            ),
            summary=f"finish: {status}",
        )
        self._set_status(status)

    def _set_status(self, status: str) -> None:
        self._state.status = status
        workflow.upsert_search_attributes([STATUS_KEY.value_set(status)])


def _describe(err: ActivityError, step: str | None) -> dict[str, Any]:
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return {"type": cause.type or "ApplicationError", "message": cause.message, "step": step}
    message = str(cause) if cause is not None else str(err)
    return {"type": type(cause or err).__name__, "message": message, "step": step}
