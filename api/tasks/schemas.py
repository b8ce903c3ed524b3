"""Request and response models of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cape.contracts.records import Budgets, Fallback, PendingQuestion
from cape.domain import TaskStatus as TaskStatus  # the `status` filter of the listing


class FileRef(BaseModel):
    """An artifact of the caller's team to give the task as an input file."""

    model_config = ConfigDict(extra="forbid")

    artifact_id: str = Field(min_length=1, max_length=64)
    path: str | None = Field(
        None,
        max_length=255,
        description="Where under `input/` (relative, `/` between folders); default: its name.",
    )


class TaskCreate(BaseModel):
    """Start a task: which agent (or capability), with what input and which files."""

    model_config = ConfigDict(extra="forbid")

    agent: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        examples=["assistant"],
        description="The agent to run; give `agent` or `capability`, not both.",
    )
    capability: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="Instead of `agent`: a capability the team's agents declare; the assigner "
        "picks the agent (docs/multi-agent.md).",
    )
    complexity: int | None = Field(
        None, ge=1, le=10, description="With `capability`: the task's complexity, 1-10."
    )
    agent_version: str | None = Field(
        None,
        max_length=64,
        description="A version (`1.2.3`) or range (`^1.2`); default: the agent's default version.",
    )
    input: dict[str, Any] = Field(examples=[{"prompt": "Write a haiku about durable execution"}])
    model: str | None = Field(None, max_length=256, description="Overrides the agent's model.")
    max_steps: int | None = Field(
        None, ge=1, le=10_000, description="Maximum LLM turns (within the agent's ceiling)."
    )
    max_tokens: int | None = Field(
        None, ge=1, description="Token budget of the task (within the agent's ceiling)."
    )
    max_cost: float | None = Field(
        None, gt=0, description="Cost budget in US dollars (within the agent's ceiling)."
    )
    files: list[FileRef] | None = Field(
        None,
        description="Already uploaded artifacts copied into the workspace's `input/` before the "
        "first step (multipart requests add `file` parts too).",
    )


class Usage(BaseModel):
    """Token counts."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float = 0.0


class LiveState(BaseModel):
    """A running task's progress, read from its rows (with `?live=true`: the workflow's query).

    With `?live=true` it is what the workflow reports through its `state` query
    (`workflows.types.TaskState`).

    The budgets, question and fallbacks are the workflow's own records (`cape.contracts.records`).
    """

    status: str
    current_step: str | None
    steps: int
    llm_turns: int
    usage: Usage
    paused: bool = False
    model: str = ""
    limits: Budgets | None = None
    pending_input: PendingQuestion | None = None
    fallbacks: list[Fallback] = Field(
        default_factory=list, description="Model switches: from, to and the failure behind each."
    )
    runs: int | None = Field(
        1,
        description="Workflow runs so far (the task continues as new; the first step of each "
        "new run writes it to the row).",
    )


class ChildOut(BaseModel):
    """A task this one delegated work to."""

    id: str
    agent: str
    status: TaskStatus


class TaskOut(BaseModel):
    """A task as the API shows it."""

    id: str
    agent: str
    agent_version: str
    owner: str
    status: TaskStatus
    input: dict[str, Any]
    output: dict[str, Any] | None
    error: dict[str, Any] | None
    usage: Usage
    model: str
    max_steps: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    last_event_seq: int
    parent_id: str | None = Field(
        None, description="The task this one reruns or forks, or that delegated it."
    )
    relation: str | None = Field(
        None, description="`rerun`, `fork` or `delegated` when parent_id is set."
    )
    children: list[ChildOut] | None = Field(
        None,
        description="The tasks it delegated work to (on GET /v1/tasks/{id}; the whole tree: "
        "GET /v1/tasks/{id}/tree).",
    )
    schedule_id: str | None = Field(None, description="The schedule that started it.")
    event_id: str | None = Field(None, description="The event whose trigger started it.")
    trace_id: str | None = Field(
        None,
        description="The OpenTelemetry trace (32 hex digits) it was created in; null when "
        "tracing was off.",
    )
    limits: dict[str, Any] | None = Field(
        None, description="Budgets in force: max_steps, max_tokens, max_cost, timeout_seconds."
    )
    pending_input: dict[str, Any] | None = Field(
        None, description="What the task waits for in `input_required` (answer: POST .../input)."
    )
    warnings: list[str] = Field(
        default_factory=list, description="E.g. the agent version is deprecated."
    )
    waiting_for: dict[str, Any] | None = Field(
        None,
        description="A `queued` task waiting for a lock (docs/locks.md): `resource`, its "
        "`position` when it queued, `why` and `reason`, from its `lock-waiting` event. A "
        "running task whose delegated task waits for a person: `child_id`, `pending` and "
        "`reason` (docs/multi-agent.md).",
    )
    live: LiveState | None = None
    links: dict[str, str] = Field(default_factory=dict)


class TaskPage(BaseModel):
    """One page of tasks; pass `next_cursor` as `cursor` for the next."""

    items: list[TaskOut]
    next_cursor: str | None


class StepOut(BaseModel):
    """One step of a task."""

    model_config = ConfigDict(from_attributes=True)

    step_no: int
    name: str
    kind: str
    status: str
    attempt: int
    input: dict[str, Any] | None
    output: dict[str, Any] | None
    error: dict[str, Any] | None
    usage: dict[str, Any] | None
    started_at: datetime | None
    finished_at: datetime | None


class EventOut(BaseModel):
    """The event envelope (SSE `data:` and WebSocket message)."""

    seq: int
    task_id: str
    step_id: str | None
    ts: datetime
    channel: str
    type: str
    data: dict[str, Any]


class PauseBody(BaseModel):
    """Why the task is paused or resumed (kept in its events)."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field("", max_length=500)


class RerunBody(BaseModel):
    """What to change in the new run; by default the same agent, input, model and budget."""

    model_config = ConfigDict(extra="forbid")

    agent_version: str | None = Field(
        None, max_length=64, description="A version or range; default: the agent's default."
    )
    model: str | None = Field(None, max_length=256)
    max_steps: int | None = Field(None, ge=1, le=10_000)
    input: dict[str, Any] | None = Field(None, description="Replaces the input when given.")


class ForkRequest(BaseModel):
    """Where to fork from and what to change."""

    model_config = ConfigDict(extra="forbid")

    step: int = Field(ge=2, description="An LLM step of the parent: the fork runs it again.")
    input_patch: dict[str, Any] = Field(default_factory=dict, description="Merged into input.")
    model: str | None = Field(None, max_length=256)
    agent_version: str | None = Field(
        None, max_length=64, description="A version or range; default: the parent's version."
    )


class InputBody(BaseModel):
    """The answer to `pending_input` (see `GET /v1/tasks/{id}`)."""

    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(
        min_length=1, max_length=128, description="`pending_input.id` of the question answered."
    )
    action: Literal["approve", "reject", "raise", "cancel"] = Field(
        description="approval: approve | reject | cancel; budget: raise | cancel."
    )
    reason: str = Field("", max_length=2000, description="Told to the model on a rejection.")
    max_steps: int | None = Field(None, ge=1, le=10_000, description="A raised budget.")
    max_tokens: int | None = Field(None, ge=1, description="A raised budget.")
    max_cost: float | None = Field(None, gt=0, description="A raised budget (US dollars).")


class InputAccepted(BaseModel):
    """The task took the answer and carries on (or ends, when it was `cancel`)."""

    request_id: str
    action: str
    accepted: bool
