"""How a task's workflow starts: the options every start of a task shares.

`task_start(inp, queue)` gives the workflow id, queue, search attributes, summary and timeout of
a task's workflow from its input alone (`cape.tasks.workflow_input`). The call itself is made by
reference by a starter in a layer that may import the workflow class:

    start = task_start(inp, settings.task_queue)
    await client.start_workflow(AgentTaskWorkflow.run, start.input, id=start.id, ...)

(`api/tasks/launch.py`; a workflow starting a child task passes the same fields to
`workflow.execute_child_workflow`). This module is light and deterministic (no I/O, no settings)
so that workflow code may import it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.common import SearchAttributePair, TypedSearchAttributes

from cape.contracts.task_input import AgentTaskInput
from cape.contracts.temporal import AGENT_KEY, AGENT_VERSION_KEY, OWNER_KEY, STATUS_KEY, TEAM_KEY
from cape.domain import TaskStatus
from cape.tasks.ids import schedule_workflow_id

RUN_TIMEOUT = timedelta(days=7)  # a run continues as new long before; this bounds a stuck one


@dataclass(frozen=True)
class TaskStart:
    """The workflow start of one task: its input and the options every starter passes."""

    input: AgentTaskInput
    id: str  # the workflow id is the task id
    task_queue: str
    search_attributes: TypedSearchAttributes
    static_summary: str
    static_details: str
    run_timeout: timedelta = RUN_TIMEOUT

    def child_options(self) -> dict[str, Any]:
        """The options a workflow passes to `workflow.start_child_workflow` for this task."""
        return {
            "id": self.id,
            "task_queue": self.task_queue,
            "search_attributes": self.search_attributes,
            "static_summary": self.static_summary,
            "static_details": self.static_details,
            "run_timeout": self.run_timeout,
        }


def task_start(inp: AgentTaskInput, task_queue: str, team_id: str = "") -> TaskStart:
    """The start of the task `inp` describes, on the shared `task_queue`, tagged `team_id`.

    The team is a search attribute (`CapeTeam`), not a field of the input: the input's
    encoding stays what recorded histories hold.
    """
    return TaskStart(
        input=inp,
        id=inp.task_id,
        task_queue=task_queue,
        search_attributes=queued_attributes(inp.agent, inp.owner, inp.agent_version, team_id),
        static_summary=f"{inp.agent}@{inp.agent_version}: {inp.title}",
        static_details=(
            f"owner: {inp.owner}\nagent: {inp.agent}@{inp.agent_version}\n"
            f"model: {inp.provider}/{inp.model}\n\n{inp.prompt_preview}"
        ),
    )


def scheduled_start(inp: AgentTaskInput, schedule_id: str, task_queue: str) -> TaskStart:
    """The start of each run of a schedule (`scheduled_input`), tagged like any task's start.

    Its workflow id is the schedule's, to which Temporal appends each run's time; it carries
    no agent version attribute and describes the schedule's prompt (as it always did).
    """
    assert inp.registration is not None
    team_id = inp.registration.team_id
    prompt = str(inp.registration.input.get("prompt", ""))
    return TaskStart(
        input=inp,
        id=schedule_workflow_id(schedule_id),
        task_queue=task_queue,
        search_attributes=queued_attributes(inp.agent, inp.owner, None, team_id),
        static_summary=f"{inp.agent}@{inp.agent_version}: {inp.title} (schedule {schedule_id})",
        static_details=f"owner: {inp.owner}\nmodel: {inp.model}\n\n{prompt[:1000]}",
    )


def queued_attributes(
    agent: str, owner: str, version: str | None, team_id: str = ""
) -> TypedSearchAttributes:
    """The search attributes of a workflow that starts a queued task.

    `version` is None for a schedule's action, which carries none (as it always did);
    `CapeTeam` is set when the task has a team (always, since teams exist).
    """
    pairs = [SearchAttributePair(AGENT_KEY, agent)]
    if version is not None:
        pairs.append(SearchAttributePair(AGENT_VERSION_KEY, version))
    pairs += [
        SearchAttributePair(OWNER_KEY, owner),
        SearchAttributePair(STATUS_KEY, str(TaskStatus.QUEUED)),
    ]
    if team_id:
        pairs.append(SearchAttributePair(TEAM_KEY, team_id))
    return TypedSearchAttributes(pairs)
