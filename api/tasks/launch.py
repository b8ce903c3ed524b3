"""The API's starter of task workflows: `AgentTaskWorkflow.run`, by reference.

What to start is decided in `cape.tasks` (the input in `workflow_input`, the options in
`start`), so every starter starts a task the same way; this module only makes the call.
"""

from __future__ import annotations

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from cape.contracts.task_input import Alternative
from cape.db.models import Task
from cape.registry.spec import AgentSpec
from cape.settings import Settings
from cape.tasks.rows import NewTask
from cape.tasks.start import task_start
from cape.tasks.workflow_input import workflow_input
from workflows.agent_task import AgentTaskWorkflow


async def start_workflow(
    temporal: Client,
    settings: Settings,
    task: Task | NewTask,
    spec: AgentSpec,
    alternatives: list[Alternative] | None = None,
) -> None:
    """Start (or find) the task's workflow; workflow id = task id.

    `alternatives`: the other busy candidates of a task assigned by capability (it runs on the
    first agent that frees up).
    """
    new = task if isinstance(task, NewTask) else NewTask.of(task)
    inp = workflow_input(settings, new, spec)
    inp.alternatives = alternatives or []
    start = task_start(inp, settings.task_queue, new.team_id)
    await temporal.start_workflow(
        AgentTaskWorkflow.run,
        start.input,
        id=start.id,
        task_queue=start.task_queue,
        # A retried create or the reconciler's restart finds the running workflow.
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=start.search_attributes,
        static_summary=start.static_summary,
        static_details=start.static_details,
        run_timeout=start.run_timeout,
    )
