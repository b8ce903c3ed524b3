"""Typed input, result and query state of AgentTaskWorkflow."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from activities.types import ModelChoice, TaskRegistration, Usage, WorkspaceResult
from cape.contracts.records import Budgets, Fallback, PendingQuestion, TaskError
from cape.domain import TaskMode, TaskStatus


@dataclass
class ActivityTuning:
    """Timeouts and retries, injectable so tests can run them in real time."""

    llm_timeout_seconds: float = 120.0
    tool_timeout_seconds: float = 1200.0
    heartbeat_timeout_seconds: float = 10.0
    retry_initial_seconds: float = 1.0
    retry_max_attempts: int = 8
    host_timeout_seconds: float = 60.0  # how long a step waits for its workspace's host
    input_timeout_seconds: float = 86400.0  # how long an approval or budget question waits
    history_events_limit: int = 0  # continue-as-new past this many events (0: when suggested)


@dataclass
class Carry:
    """What a run hands to the next one when the task continues as new."""

    step_no: int
    steps: int
    llm_turns: int
    usage: Usage
    workspace: WorkspaceResult
    model_index: int
    limits: Budgets
    runs: int
    fallbacks: list[Fallback] = field(default_factory=list)


@dataclass
class AgentTaskInput:
    """Everything the workflow needs; large values stay in the database."""

    task_id: str
    agent: str
    agent_version: str
    owner: str
    model: str
    system_prompt: str
    tools: list[str]
    title: str
    prompt_preview: str
    max_steps: int
    tuning: ActivityTuning = field(default_factory=ActivityTuning)
    tool_limits: dict[str, Any] | None = None  # the agent's sandbox limits
    # Set by schedules: the workflow id is the task id and the first step creates the task row.
    registration: TaskRegistration | None = None
    # A fork: the steps before `start_step` were copied from the parent task; the workspace
    # starts from the parent's snapshot `seed` (an artifact of this task).
    start_step: int = 0
    seed: str | None = None
    # The agent version's model settings (provider names only: keys stay in the worker).
    provider: str = "default"
    fallbacks: list[ModelChoice] = field(default_factory=list)
    temperature: float | None = None
    call_max_tokens: int | None = None
    # Budgets besides max_steps (None: unlimited); exceeding one asks for input.
    max_tokens: int | None = None
    max_cost: float | None = None
    timeout_seconds: float | None = None  # the whole task, checked at each step boundary
    approval_tools: list[str] = field(default_factory=list)  # calls that wait for a person
    output_schema: dict[str, Any] | None = None  # the final answer must be JSON matching it
    # "retrieval": no model is configured, answer from the docs alone (the guide).
    mode: TaskMode = TaskMode.LLM
    retrieval: dict[str, Any] | None = None
    carry: Carry | None = None  # set when this run continues an earlier one


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
