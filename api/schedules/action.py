"""The action of a schedule: each run starts `AgentTaskWorkflow`, which registers its task.

The action starts workflow `sch-<schedule id>` (Temporal appends the run's time) with no task id
and a `TaskRegistration`: the run's workflow id becomes the task id and its first step inserts the
row. The owner is the schedule's memo and `CapeOwner` search attribute; the action's memo keeps
the cron text (Temporal stores cron as calendars).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.client import Client, ScheduleActionStartWorkflow, ScheduleDescription

from activities.types import TaskRegistration
from api.tasks.launch import workflow_input
from cape.contracts.temporal import AGENT_TASK_WORKFLOW
from cape.errors import NotFound
from cape.registry.spec import AgentSpec
from cape.settings import Settings
from cape.tasks.ids import schedule_workflow_id
from cape.tasks.rows import NewTask
from cape.tasks.start import RUN_TIMEOUT, queued_attributes
from workflows.agent_task import AgentTaskWorkflow
from workflows.types import AgentTaskInput


def not_found(schedule_id: str) -> NotFound:
    """The 404 of a schedule that does not exist (or is not the caller's, or not ours)."""
    return NotFound(f"schedule {schedule_id!r} not found", details={"schedule_id": schedule_id})


def task_input(settings: Settings, reg: TaskRegistration, spec: AgentSpec) -> AgentTaskInput:
    """The workflow input of each run: the pinned version's prompt, tools and budgets."""
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
    )  # fmt: skip
    inp = workflow_input(settings, each_run, spec)
    inp.task_id = ""  # the run's workflow id becomes the task id
    inp.registration = reg
    return inp


def build_action(
    inp: AgentTaskInput, schedule_id: str, task_queue: str, cron: str | None
) -> ScheduleActionStartWorkflow:
    """The start-workflow action of the schedule, tagged like a task started by the API."""
    assert inp.registration is not None
    prompt = str(inp.registration.input.get("prompt", ""))
    memo: dict[str, Any] = {"owner": inp.owner, "schedule_id": schedule_id}
    if cron is not None:
        memo["cron"] = cron
    return ScheduleActionStartWorkflow(
        AgentTaskWorkflow.run,
        inp,
        id=schedule_workflow_id(schedule_id),
        task_queue=task_queue,
        memo=memo,
        typed_search_attributes=queued_attributes(inp.agent, inp.owner, None),
        static_summary=f"{inp.agent}@{inp.agent_version}: {inp.title} (schedule {schedule_id})",
        static_details=f"owner: {inp.owner}\nmodel: {inp.model}\n\n{prompt[:1000]}",
        run_timeout=RUN_TIMEOUT,
    )


@dataclasses.dataclass(frozen=True)
class Current:
    """What a schedule's description holds, decoded: its action's input, queue and cron."""

    action: AgentTaskInput
    registration: TaskRegistration
    task_queue: str
    cron: str | None


async def decode(temporal: Client, desc: ScheduleDescription) -> Current:
    """Decode the action of a schedule this API made (else NotFound: not one of ours)."""
    action = desc.schedule.action
    if (
        not isinstance(action, ScheduleActionStartWorkflow)
        or action.workflow != AGENT_TASK_WORKFLOW
    ):
        raise not_found(desc.id)
    payloads = [arg for arg in action.args if isinstance(arg, Payload)]
    inp = None
    if len(payloads) == 1:
        [inp] = await temporal.data_converter.decode(payloads, [AgentTaskInput])
    if not isinstance(inp, AgentTaskInput) or inp.registration is None:
        raise not_found(desc.id)
    memo = action.memo or {}
    cron = None
    if isinstance(memo.get("cron"), Payload):
        [cron] = await temporal.data_converter.decode([memo["cron"]], [str])
    return Current(inp, inp.registration, action.task_queue, cron)
