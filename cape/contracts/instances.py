"""Agent runtime instances: the instance workflow's names, inputs and the state it carries.

One `InstanceWorkflow` per (team, instance) receives the events the instance subscribes to,
keeps them in an inbox and runs one task per event (docs/instances.md). Plain dataclasses (no
`from __future__ import annotations`, see `task_input.py`): field names never change, new
fields get defaults.
"""

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from cape.contracts.task_input import AgentTaskInput

INSTANCE_WORKFLOW: Final = "InstanceWorkflow"
DELIVER_SIGNAL: Final = "deliver_event"
CONTROL_UPDATE: Final = "control_instance"
INSTANCE_STATE_QUERY: Final = "instance_state"
PREPARE_ACTIVITY: Final = "prepare_instance_task"
AWAIT_ACTIVITY: Final = "await_instance_task"
SAVE_ACTIVITY: Final = "save_instance"
# Failure type of a refused control update: the API answers 409.
INSTANCE_CONFLICT: Final = "InstanceConflict"
INSTANCE_ROUTE_PREFIX: Final = "instance:"  # an event route's `agent` for an instance
INSTANCE_RELATION: Final = "instance"  # a task's `relation` when an instance started it


class InstanceStatus(StrEnum):
    """What an instance is doing (docs/instances.md#states)."""

    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    ERROR = "error"
    STOPPED = "stopped"


class ControlAction(StrEnum):
    """What a control update asks of the instance."""

    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"
    RECOVER = "recover"


def instance_workflow_id(team_id: str, instance_id: str) -> str:
    """The instance workflow's id: one per team and instance."""
    digest = hashlib.sha256(f"{team_id}\x00{instance_id}".encode()).hexdigest()[:12]
    return f"instance-{digest}-{instance_id}"


def instance_task_id(instance_id: str, event_id: str) -> str:
    """The id of the task an instance runs for an event: one task per event, ever."""
    digest = hashlib.sha256(f"{instance_id}\x00{event_id}".encode()).hexdigest()[:32]
    return f"task_{digest}"


@dataclass
class InstanceConfig:
    """What the instance was created with; fixed for its lifetime."""

    team_id: str
    instance_id: str
    name: str
    agent: str
    version_range: str  # a version or range; empty: the agent's default version
    owner: str  # who created it: the owner of its tasks
    max_concurrent: int = 1
    failure_limit: int = 3  # consecutive failed tasks before the instance goes to `error`
    heartbeat_seconds: float = 10.0  # of the activity that follows a task
    history_limit: int = 2000  # continue-as-new beyond this many history events


@dataclass
class Delivery:
    """One event delivered to the instance (its data stays in the event log)."""

    event_id: str
    event_type: str
    published_at: str  # ISO 8601: the inbox keeps events in this order
    pattern: str  # the subscription that matched


@dataclass
class Running:
    """A task the instance has started (or is preparing) for one event."""

    task_id: str
    event_id: str
    started_at: str
    agent_version: str = ""  # empty while the task's row is being prepared


@dataclass
class Counters:
    """What the instance has done since it was created."""

    received: int = 0
    started: int = 0
    succeeded: int = 0
    failed: int = 0
    canceled: int = 0
    consecutive_failures: int = 0


@dataclass
class InstanceState:
    """Everything the instance workflow carries across continue-as-new."""

    config: InstanceConfig
    paused: bool = False
    stopped: bool = False
    error: str | None = None
    inbox: list[Delivery] = field(default_factory=list)
    running: list[Running] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)  # recent event ids: a repeat is dropped
    counters: Counters = field(default_factory=Counters)
    agent_version: str | None = None  # the version the last task ran
    version: int = 0  # the save counter: an older save never overwrites a newer one

    @property
    def status(self) -> InstanceStatus:
        """The state the API shows, from the flags (the most severe wins)."""
        if self.stopped:
            return InstanceStatus.STOPPED
        if self.error is not None:
            return InstanceStatus.ERROR
        if self.paused:
            return InstanceStatus.PAUSED
        return InstanceStatus.RUNNING if self.running else InstanceStatus.IDLE


@dataclass
class ControlInput:
    """A control request: pause, resume, stop (cancel: cancel the running tasks), recover."""

    action: str
    cancel: bool = False
    by: str = ""


@dataclass
class PrepareInput:
    """The task to prepare for one delivered event."""

    config: InstanceConfig
    delivery: Delivery
    task_id: str


@dataclass
class PrepareResult:
    """What to do with the event's task.

    `start` (with the input), `done` (the task ran already), `rejected` (the event could not
    make a task: a failure) or `no_version` (nothing allowed to run: the instance's error).
    """

    outcome: str
    agent_version: str = ""
    input: AgentTaskInput | None = None
    reason: str | None = None


@dataclass
class AwaitInput:
    """The task to follow until it ends."""

    team_id: str
    instance_id: str
    task_id: str


@dataclass
class AwaitResult:
    """How the task ended: `succeeded`, `failed` or `canceled`, and its error message."""

    outcome: str
    error: str | None = None


@dataclass
class SaveInput:
    """The state to copy to the instance's database row.

    Sent without its inbox and its seen ids (each save is in the history): `inbox_length`
    says how long the inbox is (-1: `state.inbox` is whole).
    """

    state: InstanceState
    inbox_length: int = -1
