"""The workflow side of a new task: its typed `AgentTaskInput` and the start by reference."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from activities.types import ModelChoice
from cape.db.models import Task
from cape.domain import TaskMode
from cape.llm.providers import is_configured
from cape.registry.output_binding import bind_output_schema
from cape.registry.spec import AgentSpec
from cape.settings import Settings
from cape.task_text import title_of, user_message
from cape.tasks.ids import fork_seed_id
from cape.tasks.rows import NewTask
from cape.tasks.start import RUN_TIMEOUT, queued_attributes
from workflows.agent_task import AgentTaskWorkflow
from workflows.types import ActivityTuning, AgentTaskInput


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
        timeout_seconds=limits.get("timeout_seconds"),
        approval_tools=spec.approval_tools,
        # Bound to this input: `x-cape-equals-input` properties must echo it (output_binding).
        output_schema=bind_output_schema(spec.output_schema, task.input),
        tuning=tuning(settings),
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
    )


async def start_workflow(
    temporal: Client, settings: Settings, task: Task | NewTask, spec: AgentSpec
) -> None:
    """Start (or find) the task's workflow; workflow id = task id."""
    new = task if isinstance(task, NewTask) else NewTask.of(task)
    inp = workflow_input(settings, new, spec)
    await temporal.start_workflow(
        AgentTaskWorkflow.run,
        inp,
        id=new.id,
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=queued_attributes(inp.agent, new.owner, inp.agent_version),
        static_summary=f"{inp.agent}@{inp.agent_version}: {inp.title}",
        static_details=(
            f"owner: {new.owner}\nagent: {inp.agent}@{inp.agent_version}\n"
            f"model: {inp.provider}/{new.model}\n\n{inp.prompt_preview}"
        ),
        run_timeout=RUN_TIMEOUT,
    )
