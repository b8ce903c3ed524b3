"""Ids of events and of the tasks they start, and the priorities events carry."""

from __future__ import annotations

import hashlib
import uuid
from enum import StrEnum

EVENT_PREFIX = "evt_"
EVENT_TASK_PREFIX = "task_e"


class Priority(StrEnum):
    """An event's (or a trigger's) priority, most urgent first."""

    CRITICAL = "critical"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"

    @property
    def key(self) -> int:
        """Temporal's `priority_key`: 1 is dispatched first, 5 last (3 is the default)."""
        return {"critical": 1, "high": 2, "normal": 3, "low": 4}[self.value]


class EventStatus(StrEnum):
    """An event's routing outcome (`pending` until its routing ran)."""

    PENDING = "pending"
    ROUTED = "routed"
    UNHANDLED = "unhandled"
    FILTERED = "filtered"
    FAILED = "failed"


class RouteStatus(StrEnum):
    """What one event did for one agent."""

    STARTED = "started"
    FAILED = "failed"
    FILTERED = "filtered"
    DEBOUNCED = "debounced"
    DELIVERED = "delivered"  # to an agent runtime instance (docs/instances.md)


def new_event_id() -> str:
    """A fresh event id (also its routing workflow's id)."""
    return f"{EVENT_PREFIX}{uuid.uuid4().hex}"


def event_task_id(event_id: str, agent: str) -> str:
    """The task an event starts for `agent`: one per (event, agent), so no second start."""
    digest = hashlib.sha256(f"{event_id}\0{agent}".encode()).hexdigest()
    return f"{EVENT_TASK_PREFIX}{digest[:31]}"
