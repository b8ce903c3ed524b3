"""Request and response models of the event routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schedules.schemas import SCHEDULE_ID_PATTERN, Timing
from cape.registry.spec import EVENT_PATTERN

PriorityName = Literal["critical", "high", "normal", "low"]
StatusName = Literal["pending", "routed", "unhandled", "filtered", "failed"]


class EventPublish(BaseModel):
    """Publish an event: its type and data; the agents whose triggers match start tasks."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(pattern=EVENT_PATTERN, examples=["build.deployed"])
    data: dict[str, Any] = Field(default_factory=dict, examples=[{"service": "web"}])
    priority: PriorityName = "normal"
    source: str | None = Field(None, min_length=1, max_length=256)
    dedupe_key: str | None = Field(
        None, min_length=1, max_length=256, description="The same key in a team: the same event."
    )
    occurred_at: datetime | None = Field(None, description="When it happened (default: now).")


class RouteOut(BaseModel):
    """What the event did for one agent."""

    agent: str
    agent_version: str
    trigger: str
    status: str
    reason: str | None
    priority: str
    input: dict[str, Any] | None
    task_id: str | None
    task_status: str | None = None


class EventOut(BaseModel):
    """One event of the log with its routing outcome."""

    id: str
    type: str
    data: dict[str, Any]
    priority: str
    source: str | None
    dedupe_key: str | None
    status: str
    reason: str | None
    published_by: str
    occurred_at: datetime
    published_at: datetime
    routed_at: datetime | None
    causation_id: str | None
    depth: int
    duplicate: bool = Field(False, description="True when an earlier publish had this dedupe_key.")
    routes: list[RouteOut] | None = Field(None, description="Its routes (on GET /v1/events/{id}).")


class EventPage(BaseModel):
    """A page of events, newest first."""

    items: list[EventOut]
    next_cursor: str | None


class TypeStats(BaseModel):
    """Counts and publish-to-task-start latency of one event type."""

    type: str
    published: int
    routed: int
    unhandled: int
    filtered: int
    failed: int
    pending: int
    tasks: int
    start_latency_p50_ms: float | None
    start_latency_p95_ms: float | None


class EventStats(BaseModel):
    """Per event type, over the events of the window."""

    since: datetime | None
    types: list[TypeStats]


class EventSample(BaseModel):
    """An event to try triggers on (nothing is published)."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(pattern=EVENT_PATTERN)
    data: dict[str, Any] = Field(default_factory=dict)
    priority: PriorityName = "normal"
    source: str | None = Field(None, max_length=256)


class TriggerTest(BaseModel):
    """Try a version's triggers on `event`, or else on the team's last `last` events."""

    model_config = ConfigDict(extra="forbid")

    event: EventSample | None = None
    last: int = Field(20, ge=1, le=200, description="How many logged events, newest first.")


class TriggerVerdict(BaseModel):
    """What one event would do for the version: start a task (with this input) or why not."""

    event_id: str | None
    type: str
    would_start: bool
    status: str = Field(description="started (would start), failed, filtered or no_match.")
    trigger: str | None
    priority: str | None
    input: dict[str, Any] | None
    reason: str | None
    problems: list[dict[str, str]] = Field(default_factory=list)
    assigned_agent: str | None = Field(
        None, description="A trigger naming a capability: the agent the task would run on."
    )
    assigned_version: str | None = None
    candidates: list[dict[str, Any]] = Field(
        default_factory=list,
        description="A trigger naming a capability: every agent the assigner weighed, the "
        "chosen one ranked 1 (as in the task-assigned event).",
    )


class TriggerTestOut(BaseModel):
    """The dry-run's verdicts, one per event tried; nothing was started."""

    agent: str
    version: str
    results: list[TriggerVerdict]


class HookCreate(BaseModel):
    """A webhook: signed requests to its URL publish events of `event_type`."""

    model_config = ConfigDict(extra="forbid")

    event_type: str = Field(pattern=EVENT_PATTERN, examples=["github.push"])
    priority: PriorityName = "normal"


class HookOut(BaseModel):
    """A webhook; `secret` only in the answer that created it."""

    id: str
    event_type: str
    priority: str
    url: str
    created_by: str
    created_at: datetime
    secret: str | None = Field(None, description="Shown once: sign each body with it.")


class EventScheduleCreate(Timing):
    """Publish an event on a timetable (Temporal Schedules): its type, data and priority."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(None, pattern=SCHEDULE_ID_PATTERN, description="Default: generated.")
    type: str = Field(pattern=EVENT_PATTERN, examples=["report.due"])
    data: dict[str, Any] = Field(default_factory=dict)
    priority: PriorityName = "normal"
    paused: bool = False


class EventScheduleOut(BaseModel):
    """A schedule that publishes events; each run's event id is `sev-<id>-<run time>`."""

    id: str
    type: str
    data: dict[str, Any]
    priority: str
    paused: bool
    next_run_times: list[datetime]
    runs: int
