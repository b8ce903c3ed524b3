"""What the task page shows: the row, its steps as a timeline, artifacts, links, the question."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.artifacts.schemas import ArtifactOut
from api.artifacts.uploads import list_artifacts
from api.tasks.queries import task_steps
from api.tasks.schemas import Usage
from api.tasks.tree import messages_of, tree_out
from api.tasks.tree_schemas import MessageOut, TreeOut
from api.tasks.views import task_usage
from cape.db.models import Task, TaskStep
from cape.domain import TaskStatus
from cape.settings import Settings

PREVIEW_CHARS = 400  # a tool's output shown before "show all"
FULL_CHARS = 100_000  # the most the page embeds; the rest is in the artifacts / API
MESSAGES_SHOWN = 50  # the rest: GET /v1/tasks/{id}/messages


@dataclass(frozen=True)
class Text:
    """A long text cut for display: the preview and, when longer, the (bounded) whole."""

    preview: str
    full: str
    size: int

    @property
    def truncated(self) -> bool:
        """Whether the preview leaves something out."""
        return self.size > len(self.preview)


def clip(value: Any) -> Text:
    """`value` as readable text (JSON indented), previewed and bounded."""
    if value is None:
        return Text("", "", 0)
    if isinstance(value, str):
        # A model's tool arguments are JSON text: indent them like the rest.
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
    return Text(text[:PREVIEW_CHARS], text[:FULL_CHARS], len(text))


@dataclass(frozen=True)
class StepView:
    """One step on the timeline."""

    step: TaskStep
    arguments: Text
    output: Text
    error: Text
    offset_s: float  # seconds from the task's start to the step's
    offset_pct: float  # where its bar starts on the task's time so far
    width_pct: float  # the step's share of the task's time so far, for the bar


@dataclass
class TaskView:
    """Everything the task page renders."""

    task: Task
    status: TaskStatus
    usage: Usage
    steps: list[StepView]
    artifacts: list[ArtifactOut]
    links: dict[str, str] = field(default_factory=dict)
    answer: str = ""
    tree: TreeOut | None = None  # its delegation tree, when it has one (docs/multi-agent.md)
    messages: list[MessageOut] = field(default_factory=list)  # the first ones, oldest first

    @property
    def ended(self) -> bool:
        """Whether the task will not change any more (unless retried)."""
        return self.status.terminal


def _arguments(step: TaskStep) -> Any:
    data = step.input or {}
    # A tool step's input carries the model's call; show its arguments, else the whole input.
    return data.get("arguments", data) if step.kind == "tool" else data


def _timeline(task: Task, steps: list[TaskStep]) -> list[StepView]:
    start = task.started_at or task.created_at
    ends = [s.finished_at or s.started_at for s in steps if s.started_at] or [start]
    span = max((max(ends) - start).total_seconds(), 0.001) if start else 0.001
    views = []
    for step in steps:
        begin = step.started_at or start
        took = ((step.finished_at or begin) - begin).total_seconds()
        offset = max((begin - start).total_seconds(), 0.0)
        views.append(
            StepView(
                step=step,
                arguments=clip(_arguments(step)),
                output=clip(step.output),
                error=clip(step.error),
                offset_s=offset,
                offset_pct=min(offset / span * 100, 99.5),
                width_pct=min(max(took / span * 100, 0.5), 100.0 - min(offset / span * 100, 99.5)),
            )
        )
    return views


async def task_view(session: AsyncSession, settings: Settings, task: Task) -> TaskView:
    """The page's view of `task` (already checked to be the caller's team's)."""
    steps = await task_steps(session, task.id)
    links = {"temporal_ui": settings.workflow_link(task.id)}
    if task.parent_id:
        links["parent"] = f"/ui/tasks/{task.parent_id}"
    if task.schedule_id:
        links["schedule"] = f"/ui/schedules#{task.schedule_id}"
    if task.event_id:
        links["event"] = f"/ui/events/{task.event_id}"
    if task.trace_id and settings.trace_url_template:
        links["trace"] = settings.trace_url_template.replace("{trace_id}", task.trace_id)
    answer = (task.output or {}).get("answer")
    tree = await tree_out(session, task, settings)
    messages = await messages_of(session, task, MESSAGES_SHOWN, 0)
    return TaskView(
        task=task,
        status=TaskStatus(task.status),
        usage=task_usage(task),
        steps=_timeline(task, steps),
        artifacts=await list_artifacts(session, settings, task.id),
        links=links,
        answer=answer if isinstance(answer, str) else "",
        tree=tree if len(tree.nodes) > 1 else None,
        messages=messages.items,
    )
