"""Request and response models of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cape.domain import TaskStatus


class TaskCreate(BaseModel):
    """Start a task: which agent, with what input."""

    model_config = ConfigDict(extra="forbid")

    agent: str = Field(min_length=1, max_length=128, examples=["assistant"])
    input: dict[str, Any] = Field(examples=[{"prompt": "Write a haiku about durable execution"}])
    model: str | None = Field(None, max_length=256, description="Overrides the default model.")
    max_steps: int | None = Field(None, ge=1, le=200, description="Maximum LLM turns.")


class Usage(BaseModel):
    """Token counts."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class LiveState(BaseModel):
    """What the running workflow reports through its `state` query."""

    status: str
    current_step: str | None
    steps: int
    llm_turns: int
    usage: Usage
    paused: bool = False


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
    parent_id: str | None = Field(None, description="The task this one reruns or forks.")
    relation: str | None = Field(None, description="`rerun` or `fork` when parent_id is set.")
    schedule_id: str | None = Field(None, description="The schedule that started it.")
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
