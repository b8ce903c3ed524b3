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
