"""Typed inputs and results of every activity (plain dataclasses: Temporal's JSON converter).

Kept free of heavy imports so workflows can import them inside the sandbox. `Usage`,
`ModelChoice`, `TaskRegistration` and `WorkspaceResult` are part of the workflow's input, so they
are defined in `cape.contracts.task_input` (which `cape.tasks` may import) and re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cape.contracts.channels import ChannelMessage
from cape.contracts.records import PendingQuestion, TaskError
from cape.contracts.task_input import ModelChoice as ModelChoice
from cape.contracts.task_input import TaskRegistration as TaskRegistration
from cape.contracts.task_input import Usage as Usage
from cape.contracts.task_input import WorkspaceResult as WorkspaceResult
from cape.domain import StepKind, TaskStatus


@dataclass
class StepRef:
    """Which step of which task an activity executes; the workflow numbers steps."""

    task_id: str
    step_no: int
    name: str
    kind: StepKind
    runs: int = 0  # the first step of a continued run: the workflow runs so far, for the row


@dataclass
class WorkspaceInput:
    """Set up the task's workspace and mark the task running."""

    step: StepRef
    title: str
    description: str
    register: TaskRegistration | None = None
    seed: str | None = None  # snapshot artifact to start from (a fork)
    path: str | None = None  # a sub-folder of the parent's workspace (a delegated task shares it)
    deadline: str | None = None  # ISO 8601: the task's end, for its row (it has a timeout)


@dataclass
class RestoreInput:
    """Recreate a workspace whose host is gone from its last snapshot, on this host."""

    step: StepRef
    snapshot: str
    lost_host: str


@dataclass
class ToolCall:
    """One tool call the model asked for; `arguments` is the model's JSON text."""

    id: str
    name: str
    arguments: str


@dataclass
class LlmInput:
    """One model turn; the conversation is read from the database, not carried in history."""

    step: StepRef
    model: str
    system_prompt: str
    tools: list[str]
    provider: str = "default"
    temperature: float | None = None
    max_tokens: int | None = None


@dataclass
class LlmResult:
    """The model's answer: text, tool calls or both."""

    content: str | None
    tool_calls: list[ToolCall]
    finish_reason: str
    usage: Usage = field(default_factory=Usage)


@dataclass
class ToolInput:
    """Run one tool call inside the task's workspace."""

    step: StepRef
    workspace: str
    call: ToolCall
    limits: dict[str, Any] | None = None  # the agent's sandbox limits (clamped by the operator)
    allowed: list[str] | None = None  # the agent's tools; None: any registered tool
    denied: str | None = None  # a person refused the call: record this reason, run nothing
    lock_fences: dict[str, int] | None = None  # the task's locks: `CAPE_LOCK_FENCES` in tools
    messages: list[ChannelMessage] | None = None  # read_messages: what the inbox handed over


@dataclass
class ToolResult:
    """What the model gets back; `ok` False is a tool error the model sees, not a failed task."""

    ok: bool
    content: str
    snapshot: str | None = None  # set when the call changed the workspace and it was saved


@dataclass
class FinishInput:
    """Record the task's final status, result and lifecycle event."""

    task_id: str
    status: TaskStatus
    output: dict[str, Any] | None = None
    error: TaskError | None = None
    usage: Usage = field(default_factory=Usage)


@dataclass
class MarkInput:
    """Record a status change the workflow made on its own (paused, resumed)."""

    task_id: str
    status: TaskStatus
    event: str
    data: dict[str, Any] = field(default_factory=dict)
    channel: str = "lifecycle"
    pending: PendingQuestion | None = None  # what the task now waits for (None clears it)


@dataclass
class EventInput:
    """Record one event the workflow decided on (a model fallback, an answer received)."""

    task_id: str
    channel: str
    type: str
    data: dict[str, Any]
    dedupe_key: str


@dataclass
class CheckInput:
    """Check the final answer against the agent's output schema."""

    step: StepRef
    answer: str | None
    schema: dict[str, Any]
    attempts_left: int


@dataclass
class CheckResult:
    """The parsed output when it is valid; otherwise the problems told to the model."""

    ok: bool
    output: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class RetrievalInput:
    """Answer from the documentation alone (no model configured): the guide's fallback."""

    step: StepRef
    query: str
    context: dict[str, Any] = field(default_factory=dict)
    format: str = "text"
    top_k: int = 5


@dataclass
class RetrievalResult:
    """The answer object built from the best documentation passages."""

    output: dict[str, Any]
