"""Operator settings of the event bus (a mixin of `Settings`; docs/events.md)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings


class EventSettings(BaseSettings):
    """Limits of published events and how long the event log keeps them."""

    # The JSON of an event's `data`, encoded: above it a publish is a 413.
    event_max_data_bytes: int = Field(256 * 1024, gt=0)
    # How many events may lead to one another (a task's `publish_event`) before one is refused.
    event_max_depth: int = Field(8, ge=0, le=1000)
    # Events older than this many days are deleted by the worker's sweep (0: kept forever).
    event_retention_days: float = Field(0.0, ge=0)
    # Agent runtime instances (docs/instances.md): the most tasks one instance runs at once,
    # how many consecutive failed tasks put an instance in `error` unless it says otherwise,
    # the heartbeat of the activity that follows each task (a dead worker's follow moves on
    # within it), and the history length at which an instance workflow continues as new.
    instance_max_concurrent: int = Field(20, ge=1, le=1000)
    instance_failure_limit: int = Field(3, ge=1, le=1000)
    instance_heartbeat_seconds: float = Field(10.0, gt=0)
    instance_history_limit: int = Field(2000, ge=100, le=40_000)
