"""Statuses, event channels and event types shared by the API, workflows and activities."""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    """Lifecycle of a task (docs/architecture.md, Statuses)."""

    QUEUED = "queued"
    RUNNING = "running"
    INPUT_REQUIRED = "input_required"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    TIMED_OUT = "timed_out"
    REJECTED = "rejected"

    @property
    def terminal(self) -> bool:
        """Whether nothing more will happen to a task in this status."""
        return self in TERMINAL_TASK_STATUSES


TERMINAL_TASK_STATUSES = frozenset(
    {
        TaskStatus.SUCCEEDED,
        TaskStatus.FAILED,
        TaskStatus.CANCELED,
        TaskStatus.TIMED_OUT,
        TaskStatus.REJECTED,
    }
)


class TaskMode(StrEnum):
    """How a task answers: the agent loop with a model, or from the docs alone (the guide)."""

    LLM = "llm"
    RETRIEVAL = "retrieval"


class StepStatus(StrEnum):
    """Lifecycle of one step."""

    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELED = "canceled"


class StepKind(StrEnum):
    """What a step does."""

    WORKSPACE = "workspace"
    LLM = "llm"
    TOOL = "tool"
    CHECK = "check"  # the final answer checked against the agent's output schema
    RETRIEVAL = "retrieval"  # an answer from the docs alone


class Channel(StrEnum):
    """Event channels; SSE `event:` carries the channel."""

    LIFECYCLE = "lifecycle"
    MESSAGES = "messages"
    TOOLS = "tools"
    INPUT = "input"
    USAGE = "usage"
    MODEL_FALLBACK = "model-fallback"
    INPUT_REQUIRED = "input-required"
    INPUT_RECEIVED = "input-received"
    INPUT_EXPIRED = "input-expired"
    ARTIFACTS = "artifacts"


class EventType(StrEnum):
    """Event types written to `task_events`."""

    TASK_CREATED = "task-created"
    TASK_ASSIGNED = "task-assigned"  # the agent chosen for a capability, and why
    TASK_REASSIGNED = "task-reassigned"  # all busy: moved to the candidate that freed up first
    TASK_STARTED = "task-started"
    TASK_SUCCEEDED = "task-succeeded"
    TASK_FAILED = "task-failed"
    TASK_CANCELED = "task-canceled"
    TASK_TIMED_OUT = "task-timed-out"
    STEP_STARTED = "step-started"
    STEP_RETRYING = "step-retrying"
    STEP_FINISHED = "step-finished"
    STEP_FAILED = "step-failed"
    TOKEN_DELTA = "token-delta"
    ASSISTANT_MESSAGE = "assistant-message"
    TOOL_CALL = "tool-call"
    TOOL_RESULT = "tool-result"
    TOOL_OUTPUT_DELTA = "tool-output-delta"
    ARTIFACT_CREATED = "artifact-created"
    WORKSPACE_RESTORED = "workspace-restored"
    TASK_PAUSED = "task-paused"
    TASK_RESUMED = "task-resumed"
    TASK_RETRIED = "task-retried"
    USAGE = "usage"
    MODEL_FALLBACK = "model-fallback"
    INPUT_REQUIRED = "input-required"
    INPUT_RECEIVED = "input-received"
    INPUT_EXPIRED = "input-expired"
    LOCK_WAITING = "lock-waiting"  # the task waits for a lock before its first step
    LOCK_ACQUIRED = "lock-acquired"
    MESSAGE = "message"  # a message between tasks of a delegation tree (channel `messages`)
    # On a parent's stream, about a task it delegated (docs/multi-agent.md#events).
    CHILD_STARTED = "child-started"
    CHILD_PROGRESS = "child-progress"  # one per step the child finished
    CHILD_WAITING = "child-waiting"  # the child waits for a person (an approval, a budget)
    CHILD_FINISHED = "child-finished"


TERMINAL_EVENT_TYPES = frozenset(
    {
        EventType.TASK_SUCCEEDED,
        EventType.TASK_FAILED,
        EventType.TASK_CANCELED,
        EventType.TASK_TIMED_OUT,
    }
)
