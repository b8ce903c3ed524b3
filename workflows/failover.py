"""Failover of AgentTaskWorkflow: the next model when one fails, another host when one is lost."""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.llm import LlmActivities
    from activities.task import TaskActivities
    from activities.types import LlmInput, LlmResult, ModelChoice, RestoreInput
    from cape.contracts.failures import Failure
    from cape.contracts.records import Fallback, TaskError
    from cape.domain import Channel, EventType, StepKind
    from workflows.bookkeeping import Bookkeeping
    from workflows.rules import describe, model_failed, models

# Tool steps run on the task queue of the host holding the workspace (issue 4); histories
# recorded before ran them on the shared queue and must replay unchanged.
HOST_QUEUE_PATCH = "workspace-host-queue"


class Failover(Bookkeeping):
    """Which model answers and which host holds the workspace, and the switches between them."""

    def __init__(self) -> None:
        super().__init__()
        self._failover_lock = asyncio.Lock()
        self._model_index = 0

    async def _llm_turn(self) -> LlmResult:
        """One model turn; a model that fails for good hands the turn to the next fallback."""
        inp = self._task
        choices = models(inp)
        while True:
            choice = choices[self._model_index]
            name = f"llm: {choice.name}"
            arg = LlmInput(
                self._ref(name, StepKind.LLM),
                choice.name,
                inp.system_prompt,
                inp.tools,
                choice.provider,
                inp.temperature,
                inp.call_max_tokens,
            )
            try:
                llm = await self._step(
                    name, LlmActivities.call_llm, arg, inp.tuning.llm_timeout_seconds
                )
            except ActivityError as err:
                if self._model_index + 1 >= len(choices) or not model_failed(err):
                    raise
                await self._fall_back(choices, describe(err, name))
                continue
            self._state.llm_turns += 1
            self._state.usage.add(llm.usage)
            return llm

    async def _fall_back(self, choices: list[ModelChoice], reason: TaskError) -> None:
        failed, self._model_index = choices[self._model_index], self._model_index + 1
        chosen = choices[self._model_index]
        record: Fallback = {
            "from": f"{failed.provider}/{failed.name}",
            "to": f"{chosen.provider}/{chosen.name}",
            "reason": reason,
            "step": self._step_no,
        }
        workflow.logger.warning("model %s failed; falling back to %s", failed.name, chosen.name)
        self._state.model = chosen.name
        self._state.fallbacks.append(record)
        await self._event(
            Channel.LIFECYCLE, EventType.MODEL_FALLBACK, {**record}, f"fallback:{self._step_no}"
        )

    def _tool_queue(self) -> str | None:
        # Every tool step runs on the workspace's host, platform tools too: they are cheap
        # there, and a lost host is noticed (and the workspace moved) at the next step.
        if not self._ws.task_queue:
            return None
        return self._ws.task_queue if workflow.patched(HOST_QUEUE_PATCH) else None

    async def _failover(self, lost: str) -> None:
        """Restore the workspace's last snapshot on another host; fail without a snapshot."""
        tuning = self._task.tuning
        async with self._failover_lock:
            if self._ws.host != lost:
                return  # a parallel tool call already moved the workspace
            if not self._ws.snapshot:
                raise ApplicationError(
                    f"the workspace's host {lost!r} did not take a step within "
                    f"{tuning.host_timeout_seconds:g} s and the workspace has no snapshot "
                    "to restore elsewhere",
                    {"host": lost},
                    type=Failure.WORKSPACE_HOST_LOST,
                    non_retryable=True,
                )
            workflow.logger.warning("workspace host %s lost; restoring its snapshot", lost)
            name = "workspace: restore"
            self._ws = await self._step(
                name,
                TaskActivities.restore_workspace,
                RestoreInput(self._ref(name, StepKind.WORKSPACE), self._ws.snapshot, lost),
                tuning.tool_timeout_seconds,
            )
