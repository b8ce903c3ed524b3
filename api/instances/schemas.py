"""Request and response bodies of `/v1/instances` and `/v1/runtime`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cape.instances.ids import NAME_PATTERN
from cape.registry.spec import TRIGGER_PATTERN

StateName = Literal["idle", "running", "paused", "error", "stopped"]


class Subscription(BaseModel):
    """Events the instance receives: a type (`*` a wildcard), a filter, an input mapping."""

    model_config = ConfigDict(extra="forbid")

    event: str = Field(pattern=TRIGGER_PATTERN, description="An event type; `*` matches any text.")
    filter: dict[str, Any] | None = Field(
        None, description="Dotted paths of the event's data and the value wanted (a list: any)."
    )
    input: dict[str, Any] | None = Field(
        None, description="The task's input from the event (Jinja templates over `event`)."
    )


class InstanceCreate(BaseModel):
    """A new instance of an agent (`POST /v1/instances`)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="Unique within the team.")
    agent: str = Field(min_length=1, max_length=128)
    agent_version: str | None = Field(
        None,
        max_length=64,
        description="A version or range (`^1.2`, `1.x`); each task resolves it again. "
        "None: the agent's default version.",
    )
    subscriptions: list[Subscription] = Field(min_length=1, max_length=50)
    max_concurrent: int = Field(1, ge=1, description="Tasks running at once (at most "
                                "`CAPE_INSTANCE_MAX_CONCURRENT`).")  # fmt: skip
    failure_limit: int | None = Field(
        None, ge=1, le=1000, description="Failed tasks in a row before `error` (default "
        "`CAPE_INSTANCE_FAILURE_LIMIT`).",
    )  # fmt: skip
    input: dict[str, Any] = Field(default_factory=dict, description="Input defaults of each task.")
    model: str | None = Field(
        None, min_length=1, max_length=256, description="The tasks' model; None: the agent's."
    )


class CurrentTask(BaseModel):
    """A task the instance runs now."""

    task_id: str
    event_id: str
    agent_version: str | None
    started_at: datetime


class CountersOut(BaseModel):
    """What the instance has done."""

    received: int = 0
    started: int = 0
    succeeded: int = 0
    failed: int = 0
    canceled: int = 0
    consecutive_failures: int = 0


class InstanceOut(BaseModel):
    """An instance: its configuration, state, counters, current tasks and inbox."""

    id: str
    name: str
    agent: str
    agent_version: str | None = Field(description="The version or range asked for.")
    current_version: str | None = Field(description="The version the last task ran.")
    subscriptions: list[Subscription]
    max_concurrent: int
    failure_limit: int
    input: dict[str, Any]
    model: str | None
    state: StateName
    counters: CountersOut
    inbox_length: int
    current_tasks: list[CurrentTask]
    last_error: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime


class InstancePage(BaseModel):
    """A page of instances, newest first."""

    items: list[InstanceOut]
    next_cursor: str | None


class HistoryOut(BaseModel):
    """One event the instance handled."""

    event_id: str
    task_id: str | None
    agent_version: str | None
    outcome: str = Field(description="`running`, `succeeded`, `failed` or `canceled`.")
    reason: str | None
    duration_seconds: float | None
    started_at: datetime
    finished_at: datetime | None


class HistoryPage(BaseModel):
    """A page of the instance's history, newest first."""

    items: list[HistoryOut]
    next_cursor: str | None


class WorkersOut(BaseModel):
    """The workers polling the task queue."""

    task_queue: str
    workflow_pollers: int
    activity_pollers: int


class RuntimeOut(BaseModel):
    """The runtime at a glance: workers, the team's instances by state, the queue's backlog."""

    workers: WorkersOut
    instances: dict[str, int]
    inbox_backlog: int = Field(description="Events waiting in the team's instances' inboxes.")
    queue_backlog: int | None = Field(
        description="Tasks waiting on the task queue (approximate); None when unknown."
    )
