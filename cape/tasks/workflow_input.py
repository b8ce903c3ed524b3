"""A task's workflow input: its pinned agent version's prompt, tools, model, limits and tuning.

Built here for every start: the API's create, rerun and fork, a schedule's action, the
reconciler's restart, and (later) tasks started from the worker side, where an activity builds
the input and the workflow starts the task by reference (docs/architecture.md).
"""

from __future__ import annotations

from typing import Any

from cape.contracts.task_input import (
    ActivityTuning,
    AgentTaskInput,
    LockRequest,
    ModelChoice,
    TaskRegistration,
)
from cape.domain import TaskMode
from cape.llm.providers import is_configured
from cape.registry.output_binding import bind_output_schema
from cape.registry.spec import AgentSpec
from cape.settings import Settings
from cape.task_text import title_of, user_message
from cape.tasks.ids import fork_seed_id, schedule_workflow_id
from cape.tasks.rows import NewTask


def workflow_input(settings: Settings, task: NewTask, spec: AgentSpec) -> AgentTaskInput:
    """The workflow input of `task`: its pinned agent version's prompt, tools, model and limits.

    The system prompt is rendered here, once, with the task's input; provider credentials never
    enter the input (the worker holds them), only the provider's name.
    """
    limits = task.limits or {}
    provider = spec.model.provider
    inp = AgentTaskInput(
        task_id=task.id,
        agent=spec.name,
        agent_version=spec.version,
        owner=task.owner,
        model=task.model,
        system_prompt=spec.render_prompt(task.input),
        tools=spec.tool_names,
        title=title_of(task.input, task.id),
        prompt_preview=user_message(task.input)[:500],
        max_steps=task.max_steps,
        tool_limits=spec.tool_limits,
        start_step=task.fork_step or 0,
        seed=fork_seed_id(task.id) if task.fork_step else None,
        provider=provider,
        fallbacks=[ModelChoice(m.provider, m.name) for m in spec.model.fallbacks],
        temperature=spec.model.temperature,
        call_max_tokens=spec.model.max_tokens,
        max_tokens=limits.get("max_tokens"),
        max_cost=limits.get("max_cost"),
        # Typed float in the input: an int from the spec would be re-encoded as 600.0.
        timeout_seconds=_seconds(limits.get("timeout_seconds")),
        approval_tools=spec.approval_tools,
        # Bound to this input: `x-cape-equals-input` properties must echo it (output_binding).
        output_schema=bind_output_schema(spec.output_schema, task.input),
        tuning=tuning(settings),
        locks=task_locks(spec, task.input),
    )
    if spec.knowledge is not None and not is_configured(settings, provider):
        # No model to ask: an agent with a knowledge base still answers from retrieval alone.
        inp.mode = TaskMode.RETRIEVAL
        context = task.input.get("context")
        inp.retrieval = {
            "query": str(task.input.get("query") or user_message(task.input)),
            "context": context if isinstance(context, dict) else {},
            "format": str(task.input.get("format", "text")),
            "top_k": spec.knowledge.top_k,
        }
    return inp


def task_locks(spec: AgentSpec, input: dict[str, Any]) -> list[LockRequest]:
    """The locks a task of `spec` holds while it runs.

    Its `locks:` rendered with `input`, and its agent's semaphore (`agent:<name>`, capacity
    `max_concurrent`) when it has one.

    A lock that does not render to a resource name is an InvalidInput naming `spec.locks.<i>`.
    """
    locks = [LockRequest(name) for name in spec.render_locks(input)]
    if spec.max_concurrent is not None:
        locks.append(LockRequest(f"agent:{spec.name}", spec.max_concurrent, "max_concurrent"))
    return locks


def scheduled_input(settings: Settings, reg: TaskRegistration, spec: AgentSpec) -> AgentTaskInput:
    """The workflow input of each run of schedule `reg.schedule_id`.

    It has no task id (the run's workflow id becomes it) and carries `reg`, from which the run's
    first step creates the row (`NewTask.registered`). Its budgets are the agent's ceilings but
    for max_steps, which the schedule chose.
    """
    assert reg.schedule_id is not None
    limits = {
        "max_steps": reg.max_steps,
        "max_tokens": spec.limits.max_tokens,
        "max_cost": spec.limits.max_cost,
        "timeout_seconds": spec.limits.timeout_seconds,
    }
    each_run = NewTask(
        id=schedule_workflow_id(reg.schedule_id), agent=reg.agent,
        agent_version=reg.agent_version, owner=reg.owner, input=reg.input, model=reg.model,
        max_steps=reg.max_steps, limits=limits, schedule_id=reg.schedule_id,
        team_id=reg.team_id,
    )  # fmt: skip
    inp = workflow_input(settings, each_run, spec)
    inp.task_id = ""  # the run's workflow id becomes the task id
    inp.registration = reg
    return inp


def tuning(settings: Settings) -> ActivityTuning:
    """The activities' timeouts and retries from the settings (injectable for tests)."""
    return ActivityTuning(
        llm_timeout_seconds=settings.llm_timeout_seconds,
        tool_timeout_seconds=settings.tool_timeout_seconds,
        heartbeat_timeout_seconds=settings.heartbeat_timeout_seconds,
        retry_initial_seconds=settings.retry_initial_seconds,
        retry_max_attempts=settings.retry_max_attempts,
        host_timeout_seconds=settings.host_timeout_seconds,
        input_timeout_seconds=settings.input_timeout_seconds,
        history_events_limit=settings.history_events_limit,
        lock_ttl_seconds=settings.lock_max_ttl_seconds,
        lock_wait_seconds=max(settings.lock_max_wait_seconds, 60.0),
    )


def _seconds(value: Any) -> float | None:
    return None if value is None else float(value)
