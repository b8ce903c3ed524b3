"""What the event routing workflow and its activity agree on (docs/events.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from cape.contracts.task_input import AgentTaskInput

EVENT_ROUTING_WORKFLOW: Final = "EventRoutingWorkflow"
ROUTE_EVENT_ACTIVITY: Final = "route_event"


@dataclass
class RouteEventInput:
    """The event to route (its row holds everything else)."""

    event_id: str


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
