"""The action of a schedule: each run starts `AgentTaskWorkflow`, which registers its task.

The action starts workflow `sch-<schedule id>` (Temporal appends the run's time) with no task id
and a `TaskRegistration`: the run's workflow id becomes the task id and its first step inserts the
row. The input is built by `cape.tasks.workflow_input.scheduled_input`, like every task's. The
owner is the schedule's memo and `CapeOwner` search attribute; the action's memo keeps the cron
text (Temporal stores cron as calendars).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.client import Client, ScheduleActionStartWorkflow, ScheduleDescription

from cape.contracts.task_input import AgentTaskInput, TaskRegistration
from cape.contracts.temporal import AGENT_TASK_WORKFLOW
from cape.errors import NotFound
from cape.tasks.start import scheduled_start
from workflows.agent_task import AgentTaskWorkflow


def not_found(schedule_id: str) -> NotFound:
    """The 404 of a schedule that does not exist (or is not the caller's, or not ours)."""
    return NotFound(f"schedule {schedule_id!r} not found", details={"schedule_id": schedule_id})


def build_action(
    inp: AgentTaskInput, schedule_id: str, task_queue: str, cron: str | None
) -> ScheduleActionStartWorkflow:
    """The start-workflow action of the schedule, tagged like a task started by the API."""
    start = scheduled_start(inp, schedule_id, task_queue)
    assert inp.registration is not None
    team = inp.registration.team_id
    memo: dict[str, Any] = {"owner": inp.owner, "schedule_id": schedule_id, "team": team}
    if cron is not None:
        memo["cron"] = cron
    return ScheduleActionStartWorkflow(
        AgentTaskWorkflow.run,
        start.input,
        id=start.id,
        task_queue=start.task_queue,
        memo=memo,
        typed_search_attributes=start.search_attributes,
        static_summary=start.static_summary,
        static_details=start.static_details,
        run_timeout=start.run_timeout,
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
