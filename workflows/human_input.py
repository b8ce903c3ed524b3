"""Human input of AgentTaskWorkflow: approvals, budget questions, pause and resume.

The workflow's `provide_input` update, `pause` and `resume` signals set the fields kept here;
the loop waits on them at its step boundaries.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.types import ToolCall
    from cape.contracts.failures import Failure
    from cape.contracts.records import (
        ApprovalQuestion,
        BudgetQuestion,
        PendingQuestion,
        RaisedBudgets,
        TaskError,
    )
    from cape.domain import Channel, EventType, TaskStatus
    from workflows.bookkeeping import Bookkeeping
    from workflows.rules import exceeded
    from workflows.types import InputAnswer, PauseRequest

# Running out of max_steps asks for a bigger budget (issue 3) instead of failing the task.
BUDGET_INPUT_PATCH = "budget-asks-for-input"
# A raised budget is stored with the task (issue 12 B2), so its view shows the limits in force.
RAISED_LIMITS_PATCH = "raised-limits-stored"


class TaskEnded(Exception):
    """The task ends early in a recorded state (expired input, canceled by its owner)."""

    def __init__(self, status: TaskStatus, error: TaskError) -> None:
        super().__init__(error["message"])
        self.status, self.error = status, error


class HumanInput(Bookkeeping):
    """Questions to a person and the pause a person asked for, answered through handlers."""

    def __init__(self) -> None:
        super().__init__()
        self._input_lock = asyncio.Lock()
        self._pause_request = PauseRequest()
        self._answer: InputAnswer | None = None
        self._asked = 0

    async def _approve(self, step_no: int, call: ToolCall) -> str | None:
        """Wait for a person to approve the call; the refusal reason when they do not."""
        answer = await self._ask(
            ApprovalQuestion(
                id=f"approval-{step_no}",
                kind="approval",
                step_no=step_no,
                tool=call.name,
                call_id=call.id,
                arguments=call.arguments,
            )
        )
        if answer.action == "approve":
            return None
        if answer.action == "cancel":
            raise TaskEnded(TaskStatus.CANCELED, canceled(answer))
        who = f" by {answer.by}" if answer.by else ""
        return f"The call was rejected{who}" + (f": {answer.reason}" if answer.reason else ".")

    async def _check_budget(self) -> None:
        """Past the deadline the task ends; past a budget it asks for a bigger one."""
        state = self._state
        deadline = state.limits.get("deadline")
        if deadline and workflow.now().isoformat() >= deadline:
            raise TaskEnded(
                TaskStatus.TIMED_OUT,
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
            BudgetQuestion(
                id=f"budget-{self._step_no}-{self._asked}",
                kind="budget",
                exceeded=over["exceeded"],
                used=over["used"],
                limit=over["limit"],
            )
        )
        if answer.action == "cancel":
            raise TaskEnded(TaskStatus.CANCELED, canceled(answer))
        state.limits = {**state.limits, **raised(answer)}

    async def _ask(self, question: PendingQuestion) -> InputAnswer:
        """Wait in `input_required` for `provide_input`, up to the input timeout."""
        async with self._input_lock:  # parallel calls needing approval are asked one by one
            timeout = self._task.tuning.input_timeout_seconds
            pending = question.copy()
            pending["expires_at"] = (workflow.now() + timedelta(seconds=timeout)).isoformat()
            self._state.pending_input = pending
            await self._mark(
                TaskStatus.INPUT_REQUIRED, EventType.INPUT_REQUIRED, {**pending}, pending=pending
            )
            self._show_progress(f"waiting for input: {pending['id']}")
            try:
                await workflow.wait_condition(
                    lambda: self._answer is not None, timeout=timedelta(seconds=timeout)
                )
            except TimeoutError:
                await self._event(
                    Channel.INPUT, EventType.INPUT_EXPIRED, {**pending}, f"expired:{pending['id']}"
                )
                error: TaskError = {
                    "type": Failure.INPUT_EXPIRED,
                    "message": f"no answer to {pending['id']} within {timeout:g} s",
                    "pending": pending,
                }
                raise TaskEnded(TaskStatus.TIMED_OUT, error) from None
            answer, self._answer = self._answer, None
            assert answer is not None
            self._state.pending_input = None
            received: dict[str, Any] = {
                "id": pending["id"],
                "action": answer.action,
                "by": answer.by,
                "reason": answer.reason,
            }
            limits = raised(answer)
            if limits and workflow.patched(RAISED_LIMITS_PATCH):
                received["limits"] = limits  # mark_task stores them in the task's row
            await self._mark(TaskStatus.RUNNING, EventType.INPUT_RECEIVED, received, pending=None)
            return answer

    async def _hold(self) -> None:
        """Sit paused (status `paused`, no step running) until `resume` or a cancellation."""
        request = self._pause_request
        await self._mark(
            TaskStatus.PAUSED, EventType.TASK_PAUSED, {"by": request.by, "note": request.note}
        )
        await workflow.wait_condition(lambda: not self._state.paused)
        request = self._pause_request
        await self._mark(
            TaskStatus.RUNNING, EventType.TASK_RESUMED, {"by": request.by, "note": request.note}
        )


def raised(answer: InputAnswer) -> RaisedBudgets:
    """The budgets a `raise` answer sets (empty for other answers)."""
    budgets = RaisedBudgets()
    if answer.action != "raise":
        return budgets
    if answer.max_steps is not None:
        budgets["max_steps"] = answer.max_steps
    if answer.max_tokens is not None:
        budgets["max_tokens"] = answer.max_tokens
    if answer.max_cost is not None:
        budgets["max_cost"] = answer.max_cost
    return budgets


def canceled(answer: InputAnswer) -> TaskError:
    """The error of a task its owner canceled while it waited for input."""
    who = f" by {answer.by}" if answer.by else ""
    reason = f": {answer.reason}" if answer.reason else ""
    return {
        "type": Failure.CANCELED_BY_USER,
        "message": f"canceled{who} while waiting for input{reason}",
    }
