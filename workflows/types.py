"""Typed input, result and query state of AgentTaskWorkflow.

The input (`AgentTaskInput`, `ActivityTuning`, `Carry`) is defined in `cape.contracts.task_input`,
where `cape.tasks` builds it, and re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cape.contracts.records import Budgets, Fallback, PendingQuestion, TaskError
from cape.contracts.task_input import ActivityTuning as ActivityTuning
from cape.contracts.task_input import AgentTaskInput as AgentTaskInput
from cape.contracts.task_input import Carry as Carry
from cape.contracts.task_input import Usage
from cape.domain import TaskStatus


@dataclass
class TaskState:
    """What the `state` query returns while the task runs."""

    status: TaskStatus = TaskStatus.QUEUED
    paused: bool = False  # a pause was asked for; the task stops at its next step boundary
    current_step: str | None = None
    steps: int = 0
    llm_turns: int = 0
    usage: Usage = field(default_factory=Usage)
    error: TaskError | None = None
    model: str = ""
    limits: Budgets = field(
        default_factory=lambda: Budgets(max_steps=0, max_tokens=None, max_cost=None)
    )
    pending_input: PendingQuestion | None = None  # the approval or budget question, if any
    fallbacks: list[Fallback] = field(default_factory=list)  # model switches and why
    runs: int = 1  # workflow runs so far (continue-as-new)
    waiting_for: str | None = None  # the lock a queued task waits for, and why
    lock_fences: dict[str, int] = field(default_factory=dict)  # the locks it holds


@dataclass
class AgentTaskResult:
    """The workflow's result when it succeeds."""

    answer: str | None
    steps: int
    usage: Usage


@dataclass
class PauseRequest:
    """Signal input of `pause` and `resume`: who asked and why (kept in the task's events)."""

    by: str = ""
    note: str = ""


@dataclass
class InputAnswer:
    """Update input of `provide_input`: the answer to the task's pending question."""

    request_id: str
    action: str  # approve | reject (approval); raise | cancel (budget); cancel (any)
    by: str = ""
    reason: str = ""
    max_steps: int | None = None
    max_tokens: int | None = None
    max_cost: float | None = None


@dataclass
class InputReceipt:
    """Update result of `provide_input`: the task took the answer and carries on with it."""

    request_id: str
    action: str
    accepted: bool = True
