"""Typed input, result and query state of AgentTaskWorkflow."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from activities.types import TaskRegistration, Usage


@dataclass
class ActivityTuning:
    """Timeouts and retries, injectable so tests can run them in real time."""

    llm_timeout_seconds: float = 120.0
    tool_timeout_seconds: float = 1200.0
    heartbeat_timeout_seconds: float = 10.0
    retry_initial_seconds: float = 1.0
    retry_max_attempts: int = 8
    host_timeout_seconds: float = 60.0  # how long a step waits for its workspace's host


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


@dataclass
class TaskState:
    """What the `state` query returns while the task runs."""

    status: str = "queued"
    paused: bool = False  # a pause was asked for; the task stops at its next step boundary
    current_step: str | None = None
    steps: int = 0
    llm_turns: int = 0
    usage: Usage = field(default_factory=Usage)
    error: dict[str, Any] | None = None


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
