"""The input of `AgentTaskWorkflow` and the payloads it carries from run to run.

Built by `cape.tasks` (in the API, for a schedule's action, and later in activities that start
tasks from the worker side), read by the workflow, carried across continue-as-new. Plain
dataclasses: Temporal's JSON converter encodes them field by field, so the payload a history
holds depends on the field names and types only, never on the module that declares them.
Field names never change; add fields with defaults instead. `activities.types` and
`workflows.types` re-export these under their old names.

No `from __future__ import annotations` here, on purpose: the annotations are the types
themselves, not strings. The workflow sandbox decodes a dataclass by resolving its string
annotations in its module's globals, and it knows only the modules it imported itself; a
workflow that imports `AgentTaskInput` through `workflows.types` never imports this module in
the sandbox, so string annotations would fail there with a NameError.
"""

from dataclasses import dataclass, field
from typing import Any

from cape.contracts.channels import ChannelMessage
from cape.contracts.records import Budgets, Fallback
from cape.domain import TaskMode


@dataclass
class Usage:
    """Token counts of one LLM call or a running total."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float = 0.0  # from the price table (0 when the model has no price)

    def add(self, other: "Usage") -> None:
        """Accumulate `other` into this total."""
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.total_tokens += other.total_tokens
        self.cost_usd = round(self.cost_usd + other.cost_usd, 10)


@dataclass
class TaskRegistration:
    """The task row to create when the workflow was started without one (a schedule's run)."""

    owner: str
    agent: str
    agent_version: str
    model: str
    max_steps: int
    input: dict[str, Any]
    schedule_id: str | None = None
    team_id: str = ""  # empty in schedules made before teams: the default team's


@dataclass
class WorkspaceResult:
    """Where the workspace is: its path and the task queue of the host that holds it."""

    path: str
    task_queue: str = ""
    host: str = ""
    snapshot: str | None = None  # artifact id of the workspace's latest snapshot


@dataclass
class ModelChoice:
    """A model and the provider that serves it (credentials stay in the worker's settings)."""

    provider: str
    name: str


@dataclass
class ActivityTuning:
    """Timeouts and retries, injectable so tests can run them in real time."""

    llm_timeout_seconds: float = 120.0
    tool_timeout_seconds: float = 1200.0
    heartbeat_timeout_seconds: float = 10.0
    retry_initial_seconds: float = 1.0
    retry_max_attempts: int = 8
    host_timeout_seconds: float = 60.0  # how long a step waits for its workspace's host
    input_timeout_seconds: float = 86400.0  # how long an approval or budget question waits
    history_events_limit: int = 0  # continue-as-new past this many events (0: when suggested)
    lock_ttl_seconds: float = 86400.0  # the lease of a task's locks, renewed at half of it
    lock_wait_seconds: float = 86400.0  # a waiting task asks again before this runs out


@dataclass
class LockRequest:
    """A lock the task holds while it runs (docs/locks.md): a resource of its team's.

    `capacity` above 1 makes the lock a counting semaphore (an agent's `max_concurrent`);
    `why` says where it came from: `locks` (the spec), `max_concurrent` or `concurrency_key`.
    """

    resource: str
    capacity: int = 1
    why: str = "locks"


@dataclass
class HeldLock:
    """A lock the task was granted: its resource, lease token and fence."""

    resource: str
    token: str
    fence: int
    why: str = "locks"
    expires_at: str = ""  # ISO 8601: when the lease runs out unless renewed


@dataclass
class Alternative:
    """Another agent with the task's capability, busy like the chosen one when it was created.

    The task waits on the semaphore (`agent:<agent>`, capacity `capacity`) of each one as well
    as its own and runs on the first that frees up (docs/multi-agent.md, "All busy").
    """

    agent: str
    version: str
    capacity: int


@dataclass
class ReassignInput:
    """Move the queued task `task_id` from its agent to `to` (whose semaphore it was granted)."""

    task_id: str
    from_agent: str
    from_version: str
    to: Alternative
    why: str = ""


@dataclass
class Carry:
    """What a run hands to the next one when the task continues as new."""

    step_no: int
    steps: int
    llm_turns: int
    usage: Usage
    workspace: WorkspaceResult
    model_index: int
    limits: Budgets
    runs: int
    fallbacks: list[Fallback] = field(default_factory=list)
    locks: list[HeldLock] = field(default_factory=list)  # held across continue-as-new
    inbox: list[ChannelMessage] = field(default_factory=list)  # messages not read yet
    seen_messages: list[str] = field(default_factory=list)  # ids received, for duplicates
    # Tasks it delegated: id -> "detached" (started without wait, not collected) or "collected"
    children: dict[str, str] = field(default_factory=dict)


@dataclass
class AgentTaskInput:
    """Everything the workflow needs; large values stay in the database."""

    task_id: str
    agent: str
    agent_version: str
    owner: str
    model: str
    system_prompt: str
    tools: list[str]
    title: str
    prompt_preview: str
    max_steps: int
    tuning: ActivityTuning = field(default_factory=ActivityTuning)
    tool_limits: dict[str, Any] | None = None  # the agent's sandbox limits
    # Set by schedules: the workflow id is the task id and the first step creates the task row.
    registration: TaskRegistration | None = None
    # A fork: the steps before `start_step` were copied from the parent task; the workspace
    # starts from the parent's snapshot `seed` (an artifact of this task).
    start_step: int = 0
    seed: str | None = None
    # The agent version's model settings (provider names only: keys stay in the worker).
    provider: str = "default"
    fallbacks: list[ModelChoice] = field(default_factory=list)
    temperature: float | None = None
    call_max_tokens: int | None = None
    # Budgets besides max_steps (None: unlimited); exceeding one asks for input.
    max_tokens: int | None = None
    max_cost: float | None = None
    timeout_seconds: float | None = None  # the whole task, checked at each step boundary
    approval_tools: list[str] = field(default_factory=list)  # calls that wait for a person
    output_schema: dict[str, Any] | None = None  # the final answer must be JSON matching it
    # "retrieval": no model is configured, answer from the docs alone (the guide).
    mode: TaskMode = TaskMode.LLM
    retrieval: dict[str, Any] | None = None
    carry: Carry | None = None  # set when this run continues an earlier one
    # Acquired in sorted order before the first step and held to the end (docs/locks.md).
    locks: list[LockRequest] = field(default_factory=list)
    lock_priority: str = "normal"  # the event's priority for a task an event started
    # A delegated task that shares its parent's workspace: its sub-folder and host (multi-agent).
    shared_workspace: WorkspaceResult | None = None
    # Assigned by capability with every candidate busy: the other agents it may move to.
    alternatives: list[Alternative] = field(default_factory=list)
    # Locks granted before the run began (a reassigned task's semaphore): adopted, not asked.
    held_locks: list[HeldLock] = field(default_factory=list)
