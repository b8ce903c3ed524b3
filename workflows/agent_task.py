"""AgentTaskWorkflow: the durable agent loop; orchestration only, side effects are activities."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any, TypeVar, cast

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    TimeoutError,
    TimeoutType,
)

with workflow.unsafe.imports_passed_through():
    from activities.types import (
        FinishInput,
        LlmInput,
        LlmResult,
        MarkInput,
        RestoreInput,
        StepRef,
        ToolCall,
        ToolInput,
        ToolResult,
        WorkspaceInput,
        WorkspaceResult,
    )
    from workflows.types import AgentTaskInput, AgentTaskResult, PauseRequest, TaskState

STATUS_KEY = SearchAttributeKey.for_keyword("CapeStatus")
# Tool steps run on the task queue of the host holding the workspace (issue 4); histories
# recorded before ran them on the shared queue and must replay unchanged.
HOST_QUEUE_PATCH = "workspace-host-queue"
R = TypeVar("R")


@workflow.defn(name="AgentTaskWorkflow")
class AgentTaskWorkflow:
    """Workspace setup, then LLM turns and the tool calls they ask for, until an answer."""

    def __init__(self) -> None:
        self._state = TaskState()
        self._step_no = 0
        self._input: AgentTaskInput | None = None
        self._ws = WorkspaceResult(path="")
        self._failover_lock = asyncio.Lock()
        self._pause_request = PauseRequest()

    @workflow.query
    def state(self) -> TaskState:
        """Live progress: status, current step, counts and usage."""
        return self._state

    @workflow.signal
    def pause(self, request: PauseRequest) -> None:
        """Stop at the next step boundary (the running step finishes first)."""
        self._state.paused = True
        self._pause_request = request

    @workflow.signal
    def resume(self, request: PauseRequest) -> None:
        """Carry on after a pause (or cancel a pause not reached yet)."""
        self._state.paused = False
        self._pause_request = request

    @workflow.run
    async def run(self, inp: AgentTaskInput) -> AgentTaskResult:
        """Run the agent loop to an answer, a failure or `max_steps`."""
        if not inp.task_id:  # a schedule's run: the workflow id Temporal gave it is the task id
            inp.task_id = workflow.info().workflow_id
        self._input = inp
        try:
            self._ws = await self._step(
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
            self._set_status("running")
            if inp.start_step:  # a fork: the parent's steps before this one were copied
                self._step_no = inp.start_step - 1
            answer = await self._loop(inp)
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

    async def _loop(self, inp: AgentTaskInput) -> str | None:
        for _ in range(inp.max_steps):
            if self._state.paused:
                await self._hold()
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
            await asyncio.gather(*(self._tool(inp, call) for call in llm.tool_calls))
        raise ApplicationError(
            f"max_steps ({inp.max_steps}) reached before the agent answered",
            type="MaxStepsReached",
            non_retryable=True,
        )

    async def _tool(self, inp: AgentTaskInput, call: ToolCall) -> ToolResult:
        name = f"tool: {call.name}"
        ref = self._ref(name, "tool")
        summary = _tool_summary(call)
        while True:
            queue = self._tool_queue()
            try:
                result = await self._step(
                    name,
                    "tool",
                    "run_tool",
                    ToolInput(ref, self._ws.path, call, inp.tool_limits, inp.tools),
                    ToolResult,
                    inp.tuning.tool_timeout_seconds,
                    task_queue=queue,
                    summary=summary,
                )
            except ActivityError as err:
                if queue is None or not _host_lost(err):
                    raise
                # The step never started (its host is gone), so it is retried under the same
                # step number once the workspace lives somewhere else.
                await self._failover(inp, lost=self._ws.host)
                continue
            if result.snapshot:
                self._ws.snapshot = result.snapshot
            return result

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
                    type="WorkspaceHostLost",
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
        await self._mark("paused", "task-paused")
        await workflow.wait_condition(lambda: not self._state.paused)
        await self._mark("running", "task-resumed")

    async def _mark(self, status: str, event: str) -> None:
        assert self._input is not None
        request = self._pause_request
        await workflow.execute_activity(
            "mark_task",
            MarkInput(self._input.task_id, status, event, {"by": request.by, "note": request.note}),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=self._input.tuning.retry_initial_seconds),
                maximum_interval=timedelta(seconds=30),
            ),
            summary=f"status: {status}",
        )
        self._set_status(status)

    def _ref(self, name: str, kind: str) -> StepRef:
        assert self._input is not None
        self._step_no += 1
        return StepRef(self._input.task_id, self._step_no, name, kind)

    async def _step(
        self,
        name: str,
        kind: str,
        activity: str,
        arg: Any,
        result: type[R],
        timeout: float,
        task_queue: str | None = None,
        summary: str | None = None,
    ) -> R:
        assert self._input is not None
        tuning = self._input.tuning
        self._show_progress(summary or name)
        # On a host's own queue, a step that no worker picks up means the host is gone.
        to_start = timedelta(seconds=tuning.host_timeout_seconds) if task_queue else None
        self._state.current_step = name
        self._state.steps += 1
        return cast(
            R,
            await workflow.execute_activity(
                activity,
                arg,
                result_type=result,
                task_queue=task_queue,
                schedule_to_start_timeout=to_start,
                start_to_close_timeout=timedelta(seconds=timeout),
                heartbeat_timeout=timedelta(seconds=tuning.heartbeat_timeout_seconds),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=tuning.retry_initial_seconds),
                    maximum_interval=timedelta(seconds=max(60.0, tuning.retry_initial_seconds)),
                    maximum_attempts=tuning.retry_max_attempts,
                ),
                summary=summary or name,
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

    def _show_progress(self, current: str) -> None:
        # The Web UI shows these "current details" on the workflow's page.
        state = self._state
        workflow.set_current_details(
            f"**{state.status}** · step {self._step_no}: {current}\n\n"
            f"LLM turns: {state.llm_turns} · tokens: {state.usage.total_tokens}"
        )

    def _set_status(self, status: str) -> None:
        self._state.status = status
        workflow.upsert_search_attributes([STATUS_KEY.value_set(status)])


def _tool_summary(call: ToolCall) -> str:
    """`tool: shell ls -la`: the tool and its main argument, for the Web UI's timeline."""
    try:
        args = json.loads(call.arguments or "{}")
    except ValueError:
        args = {}
    detail = ""
    if isinstance(args, dict):
        for key in ("command", "path", "url", "query", "repo", "file", "output", "subject"):
            if isinstance(args.get(key), str):
                detail = " ".join(args[key].split())[:60]
                break
    return f"tool: {call.name} {detail}".rstrip()


def _host_lost(err: ActivityError) -> bool:
    cause = err.cause
    return isinstance(cause, TimeoutError) and cause.type == TimeoutType.SCHEDULE_TO_START


def _describe(err: ActivityError, step: str | None) -> dict[str, Any]:
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return {"type": cause.type or "ApplicationError", "message": cause.message, "step": step}
    message = str(cause) if cause is not None else str(err)
    return {"type": type(cause or err).__name__, "message": message, "step": step}
