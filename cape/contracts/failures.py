"""Failure types: the `type` of every `ApplicationError` the workers raise, matched by callers.

The values are stored in workflow histories and in task rows (`error.type`), so they never
change; add new members instead.
"""

from __future__ import annotations

from enum import StrEnum


class Failure(StrEnum):
    """The `type` of an `ApplicationError` raised by a workflow or an activity."""

    # The task ended (workflow failures and the task's stored error).
    TASK_FAILED = "TaskFailed"
    OUTPUT_INVALID = "OutputInvalid"
    MAX_STEPS_REACHED = "MaxStepsReached"
    WORKSPACE_HOST_LOST = "WorkspaceHostLost"
    TASK_TIMEOUT = "TaskTimeout"
    INPUT_EXPIRED = "InputExpired"
    CANCELED_BY_USER = "CanceledByUser"
    # An `ApplicationError` raised without a type.
    UNTYPED = "ApplicationError"
    # `provide_input` refused the answer (its validator).
    NO_PENDING_INPUT = "NoPendingInput"
    STALE_INPUT = "StaleInput"
    DUPLICATE_INPUT = "DuplicateInput"
    INVALID_ANSWER = "InvalidAnswer"
    # A step failed.
    INVALID_INPUT = "InvalidInput"
    TOOL_ERROR = "ToolError"  # a tool step's error, returned to the model (not a failure)
    STEP_SUPERSEDED = "StepSuperseded"
    LLM_CONNECTION = "LLMConnection"
    LLM_ERROR = "LLMError"
    MODEL_NOT_FOUND = "ModelNotFound"
    CONTEXT_TOO_LONG = "ContextTooLong"
    PROVIDER_NOT_CONFIGURED = "ProviderNotConfigured"
    PROVIDER_UNKNOWN = "ProviderUnknown"
    # The reconciler closed the row as its workflow left it (stored errors, never raised).
    WORKFLOW_MISSING = "WorkflowMissing"
    WORKFLOW_TERMINATED = "WorkflowTerminated"
    WORKFLOW_FAILED = "WorkflowFailed"
    WORKFLOW_CANCELED = "WorkflowCanceled"
    WORKFLOW_TIMED_OUT = "WorkflowTimedOut"
    CANCELED = "Canceled"  # canceled while no workflow ran, so nothing ran


# Refusals of an answer that a caller can fix by reading the task again (HTTP 409, not 422).
INPUT_CONFLICTS = frozenset(
    {Failure.STALE_INPUT, Failure.DUPLICATE_INPUT, Failure.NO_PENDING_INPUT}
)


def llm_http(status: int) -> str:
    """`LLMHttp429`: the type of a model call that failed with an HTTP status."""
    return f"LLMHttp{status}"
