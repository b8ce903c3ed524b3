"""Platform metrics measured around activities, so the activities themselves stay unchanged.

A Temporal activity interceptor times every step attempt and reads what it needs from the
activity's typed input and result: the model and usage of an LLM call, the tool of a tool step,
the status of a finished task, a model fallback's event. Agent and team (the `team` label) come
from the task's row, read once per task.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from activities.types import EventInput, FinishInput, LlmInput, LlmResult, ToolInput
from cape.db.models import Task
from cape.domain import EventType
from cape.telemetry import metrics

log = structlog.get_logger(__name__)
# Activity name -> step kind; the others are bookkeeping and are not steps.
STEP_KINDS = {
    "call_llm": "llm",
    "run_tool": "tool",
    "setup_workspace": "workspace",
    "restore_workspace": "workspace",
    "check_output": "check",
    "answer_from_docs": "retrieval",
}
_KNOWN_TASKS = 4096  # rows remembered between a task's start and its finish


class StepMetrics(Interceptor):
    """Worker interceptor recording `cape_step_*`, `cape_llm_*` and `cape_tasks_*` metrics."""

    def __init__(self, reads: async_sessionmaker[AsyncSession]) -> None:
        self._reads = reads
        self._tasks: OrderedDict[str, tuple[str, str]] = OrderedDict()

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        """Wrap every activity of the worker."""
        return _Inbound(next, self)

    async def labels(self, task_id: str) -> tuple[str, str]:
        """The task's (agent, team) labels, from its row the first time."""
        known = self._tasks.get(task_id)
        if known is None:
            async with self._reads() as session:
                row = (
                    await session.execute(
                        select(Task.agent, Task.team_id).where(Task.id == task_id)
                    )
                ).first()
            known = (row.agent, metrics.team_of(row.team_id)) if row else ("unknown", "unknown")
            self._tasks[task_id] = known
            while len(self._tasks) > _KNOWN_TASKS:
                self._tasks.popitem(last=False)
        return known


class _Inbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, owner: StepMetrics) -> None:
        super().__init__(next)
        self._owner = owner

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        name = activity.info().activity_type
        arg = input.args[0] if input.args else None
        started = time.perf_counter()
        try:
            result = await super().execute_activity(input)
        except BaseException as exc:
            self._failed(name, arg, exc, time.perf_counter() - started)
            raise
        self._step(name, arg, "succeeded", time.perf_counter() - started)
        try:
            await self._succeeded(name, arg, result)
        except Exception as exc:  # a metric never fails a step that succeeded
            log.warning("step metrics not recorded", activity=name, error=str(exc))
        return result

    def _step(self, name: str, arg: Any, outcome: str, seconds: float) -> None:
        kind = STEP_KINDS.get(name)
        if kind is not None:
            tool = arg.call.name if isinstance(arg, ToolInput) else ""
            metrics.STEP_DURATION.labels(kind, tool, outcome).observe(seconds)

    def _failed(self, name: str, arg: Any, exc: BaseException, seconds: float) -> None:
        self._step(name, arg, "failed", seconds)
        if isinstance(arg, LlmInput):
            kind = exc.type if isinstance(exc, ApplicationError) and exc.type else "error"
            metrics.LLM_CALLS.labels(arg.provider, arg.model, "failed").inc()
            metrics.LLM_ERRORS.labels(arg.provider, arg.model, kind).inc()

    async def _succeeded(self, name: str, arg: Any, result: Any) -> None:
        if isinstance(arg, LlmInput) and isinstance(result, LlmResult):
            _llm_usage(arg, result)
        elif name == "setup_workspace" and arg is not None:
            metrics.TASKS_STARTED.labels(*await self._owner.labels(arg.step.task_id)).inc()
        elif isinstance(arg, FinishInput):
            agent, team = await self._owner.labels(arg.task_id)
            metrics.TASKS_FINISHED.labels(agent, team, str(arg.status)).inc()
        elif isinstance(arg, EventInput) and arg.type == EventType.MODEL_FALLBACK:
            provider, _, model = str(arg.data.get("from", "")).partition("/")
            metrics.LLM_FALLBACKS.labels(provider, model).inc()


def _llm_usage(arg: LlmInput, result: LlmResult) -> None:
    usage = result.usage
    metrics.LLM_CALLS.labels(arg.provider, arg.model, "succeeded").inc()
    metrics.LLM_TOKENS.labels(arg.provider, arg.model, "prompt").inc(usage.prompt_tokens)
    metrics.LLM_TOKENS.labels(arg.provider, arg.model, "completion").inc(usage.completion_tokens)
    metrics.LLM_COST.labels(arg.provider, arg.model).inc(usage.cost_usd)
