"""What a finished step keeps in `task_steps.output`, one shape per step kind.

Each activity writes its kind's shape once; it reads it back when a retry finds the step already
finished (the work is not redone), and the next model turn reads LLM, tool and check outputs to
rebuild the conversation. Rows outlive the code, so these are TypedDicts (see `records`), read
back through `read_*` which checks the shape with pydantic and keeps the JSON as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NotRequired

from pydantic import TypeAdapter
from typing_extensions import TypedDict

from cape.contracts.records import TaskError


class ChatFunction(TypedDict):
    """The function a tool call names, with the model's JSON arguments as text."""

    name: str
    arguments: str


class ChatToolCall(TypedDict):
    """A tool call in an assistant message, as the OpenAI chat API has it."""

    id: str
    type: str  # "function"
    function: ChatFunction


class ChatMessage(TypedDict):
    """A chat message: the model's answer, or a request to the model (system, user)."""

    role: str
    content: str | None
    tool_calls: NotRequired[list[ChatToolCall]]


class ToolMessage(TypedDict):
    """A tool's result as the model reads it in the conversation."""

    role: str  # "tool"
    tool_call_id: str
    content: str


class UsageRecord(TypedDict):
    """Token counts and cost of one model call (`cape.contracts.task_input.Usage` as JSON)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: float


class WorkspaceStepOutput(TypedDict):
    """A workspace set up or restored, as the task sees it (paths inside the sandbox)."""

    path: str
    host: str  # the host's label
    snapshot: str | None
    lost_host: NotRequired[str]  # moved: the label of the host it was on (lost, or unreported)


class LlmStepOutput(TypedDict):
    """One model turn."""

    message: ChatMessage
    finish_reason: str
    usage: UsageRecord


class ToolStepOutput(TypedDict):
    """One tool call; `ok` False is a tool error the model saw, with `error` set."""

    tool_call_id: str
    ok: bool
    content: str
    restored_from: NotRequired[str]  # the snapshot a step run again started from
    isolation: NotRequired[dict[str, Any] | None]
    artifacts: NotRequired[list[str]]
    records: NotRequired[list[Any]]  # (event type, data) pairs the tool added to the log
    snapshot: NotRequired[str]
    error: NotRequired[TaskError]
    # delegate / await_task: the child's id, status, usage and whether this call collected it
    child: NotRequired[dict[str, Any]]


class CheckStepOutput(TypedDict):
    """The final answer checked against the output schema."""

    ok: bool
    output: NotRequired[dict[str, Any]]  # the parsed answer when it is valid
    problems: NotRequired[list[str]]
    message: NotRequired[ChatMessage]  # the repair request told to the model, if it may retry


_LLM: TypeAdapter[LlmStepOutput] = TypeAdapter(LlmStepOutput)
_TOOL: TypeAdapter[ToolStepOutput] = TypeAdapter(ToolStepOutput)
_CHECK: TypeAdapter[CheckStepOutput] = TypeAdapter(CheckStepOutput)
_WORKSPACE: TypeAdapter[WorkspaceStepOutput] = TypeAdapter(WorkspaceStepOutput)


def read_llm(stored: Mapping[str, Any]) -> LlmStepOutput:
    """A stored LLM step's output; a ValidationError names the field that does not fit."""
    return _LLM.validate_python(stored)


def read_tool(stored: Mapping[str, Any]) -> ToolStepOutput:
    """A stored tool step's output."""
    return _TOOL.validate_python(stored)


def read_check(stored: Mapping[str, Any]) -> CheckStepOutput:
    """A stored check step's output."""
    return _CHECK.validate_python(stored)


def read_workspace(stored: Mapping[str, Any]) -> WorkspaceStepOutput:
    """A stored workspace step's output."""
    return _WORKSPACE.validate_python(stored)
