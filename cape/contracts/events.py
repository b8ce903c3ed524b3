"""What the event routing workflow and its activity agree on (docs/events.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from cape.contracts.task_input import AgentTaskInput

EVENT_ROUTING_WORKFLOW: Final = "EventRoutingWorkflow"
ROUTE_EVENT_ACTIVITY: Final = "route_event"


@dataclass
class EventRegistration:
    """The event a schedule's run publishes: its row is made by the run's first activity."""

    team_id: str
    published_by: str
    type: str
    data: dict[str, Any]
    priority: str
    schedule_id: str


@dataclass
class RouteEventInput:
    """The event to route (its row holds everything else).

    A schedule's run has no event id yet: `registration` describes the event, and the run's
    workflow id (the schedule's id and the run's time) becomes the event id.
    """

    event_id: str
    registration: EventRegistration | None = None


@dataclass
class TaskLaunch:
    """A task the event started: its workflow input, team and Temporal priority key."""

    input: AgentTaskInput
    team_id: str
    priority_key: int


@dataclass
class RouteEventResult:
    """The event's routing outcome and the tasks to start."""

    status: str
    launches: list[TaskLaunch] = field(default_factory=list)
