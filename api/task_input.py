"""The workflow side of a task: its AgentTaskInput, search attributes and the start call."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)

from cape.agents import get_agent
from cape.db.models import Task
from cape.domain import TaskStatus
from cape.settings import Settings
from workflows.types import ActivityTuning, AgentTaskInput

AGENT_KEY = SearchAttributeKey.for_keyword("CapeAgent")
OWNER_KEY = SearchAttributeKey.for_keyword("CapeOwner")
STATUS_KEY = SearchAttributeKey.for_keyword("CapeStatus")


def workflow_input(settings: Settings, task: Task) -> AgentTaskInput:
    """The workflow input of `task` (its agent's prompt, tools and limits; the tuning)."""
    agent = get_agent(task.agent)
    prompt = str(task.input.get("prompt", ""))
    return AgentTaskInput(
        task_id=task.id,
        agent=agent.name,
        agent_version=agent.version,
        owner=task.owner,
        model=task.model,
        system_prompt=agent.system_prompt,
        tools=list(agent.tools),
        title=task_title(task),
        prompt_preview=prompt[:500],
        max_steps=task.max_steps,
        tool_limits=dict(agent.sandbox_limits) or None,
        start_step=task.fork_step or 0,
        seed=fork_seed_id(task.id) if task.fork_step else None,
        tuning=ActivityTuning(
            llm_timeout_seconds=settings.llm_timeout_seconds,
            tool_timeout_seconds=settings.tool_timeout_seconds,
            heartbeat_timeout_seconds=settings.heartbeat_timeout_seconds,
            retry_initial_seconds=settings.retry_initial_seconds,
            retry_max_attempts=settings.retry_max_attempts,
            host_timeout_seconds=settings.host_timeout_seconds,
        ),
    )


def fork_seed_id(task_id: str) -> str:
    """The artifact id of a fork's starting workspace (a copy of its parent's snapshot)."""
    return f"seed-{task_id}"[:64]


def task_title(task: Task) -> str:
    """The input's title, else the prompt's first line, else the task id."""
    prompt = str(task.input.get("prompt", ""))
    return str(task.input.get("title") or prompt.splitlines()[0][:80] if prompt else task.id)


async def start_workflow(temporal: Client, settings: Settings, task: Task) -> None:
    """Start (or find) the task's workflow; workflow id = task id."""
    inp = workflow_input(settings, task)
    prompt = str(task.input.get("prompt", ""))
    await temporal.start_workflow(
        "AgentTaskWorkflow",
        inp,
        id=task.id,
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(AGENT_KEY, inp.agent),
                SearchAttributePair(OWNER_KEY, task.owner),
                SearchAttributePair(STATUS_KEY, str(TaskStatus.QUEUED)),
            ]
        ),
        static_summary=f"{inp.agent}@{inp.agent_version}: {inp.title}",
        static_details=f"owner: {task.owner}\nmodel: {task.model}\n\n{prompt[:1000]}",
        run_timeout=timedelta(days=7),
    )
