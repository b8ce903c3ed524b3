"""The API view of a task row."""

from __future__ import annotations

from typing import Any

from api.tasks.schemas import LiveState, TaskOut, Usage
from cape.db.models import Task
from cape.domain import TaskStatus
from cape.settings import Settings


def task_usage(task: Task) -> Usage:
    """The task's usage: the workflow's totals once it ended, the step totals while it runs."""
    if task.usage and task.usage.get("total_tokens"):
        return Usage.model_validate(task.usage)
    prompt, completion = task.prompt_tokens or 0, task.completion_tokens or 0
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        cost_usd=round(task.cost_usd or 0.0, 6),
    )


def task_out(
    task: Task,
    settings: Settings,
    live: LiveState | None = None,
    warnings: list[str] | None = None,
    waiting_for: dict[str, Any] | None = None,
) -> TaskOut:
    """The API view of a task row (with the live workflow state when given)."""
    base = f"{settings.base_url}/v1/tasks/{task.id}"
    return TaskOut(
        id=task.id, agent=task.agent, agent_version=task.agent_version, owner=task.owner,
        status=TaskStatus(task.status), input=task.input, output=task.output, error=task.error,
        usage=task_usage(task), model=task.model, max_steps=task.max_steps,
        limits=task.limits, pending_input=task.pending_input, warnings=warnings or [],
        created_at=task.created_at, started_at=task.started_at, finished_at=task.finished_at,
        last_event_seq=task.last_seq, live=live, waiting_for=waiting_for,
        parent_id=task.parent_id, relation=task.relation, schedule_id=task.schedule_id,
        event_id=task.event_id,
        trace_id=task.trace_id,
        links={
            "self": base, "steps": f"{base}/steps", "events": f"{base}/events",
            "artifacts": f"{base}/artifacts", "input": f"{base}/input",
            "tree": f"{base}/tree", "messages": f"{base}/messages",
            "temporal_ui": settings.workflow_link(task.id),
        } | _trace_link(task, settings),
    )  # fmt: skip


def _trace_link(task: Task, settings: Settings) -> dict[str, str]:
    # Only a task created with tracing on has a trace to open.
    if not task.trace_id or not settings.trace_url_template:
        return {}
    return {"trace": settings.trace_url_template.replace("{trace_id}", task.trace_id)}
