"""The task an instance runs for one event: its row, its history entry, its workflow input.

`prepare` runs in the instance workflow's activity (`activities/instances.py`). It resolves
the version from the instance's range, maps the event to the task's input (the instance's
input defaults, then the subscription's mapping), and adds the task's queued row (`add_task`:
`event_id` set, `relation` `instance`) with a `running` history entry, in one transaction. The
task id is derived from the instance and the event, so a retry, a repeated delivery or a run
after continue-as-new finds the same task and never starts a second one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cape.contracts.instances import INSTANCE_RELATION, PrepareInput, PrepareResult
from cape.db.event_models import Event
from cape.db.instance_models import AgentInstance, InstanceHistory
from cape.db.models import Task, utcnow
from cape.domain import TaskStatus
from cape.errors import InvalidInput
from cape.events.mapping import MappingError, map_input
from cape.events.routing import event_view
from cape.instances.routing import matching_subscription
from cape.instances.versions import choose
from cape.registry.resolve import load_spec, spec_of
from cape.registry.spec import AgentSpec
from cape.registry.validate import input_problems
from cape.settings import Settings
from cape.tasks.rows import NewTask, add_task
from cape.tasks.workflow_input import workflow_input

FINAL = {TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELED, TaskStatus.TIMED_OUT}


async def prepare(session: AsyncSession, settings: Settings, inp: PrepareInput) -> PrepareResult:
    """What the instance does with the delivered event (the caller commits)."""
    task = await session.get(Task, inp.task_id)
    if task is not None:  # prepared before: start it (again) or follow it to its end
        spec = await load_spec(session, task.agent, task.agent_version)
        if task.status in FINAL:
            return PrepareResult("done", task.agent_version)
        return PrepareResult(
            "start", task.agent_version, workflow_input(settings, NewTask.of(task), spec)
        )
    config = inp.config
    choice = await choose(session, config.agent, config.version_range)
    if choice.row is None:
        return PrepareResult("no_version", reason=choice.reason)
    spec = spec_of(choice.row)
    event = await session.get(Event, inp.delivery.event_id)
    instance = await session.get(AgentInstance, config.instance_id)
    if event is None or instance is None:
        reason = "the event is no longer in the event log" if event is None else "instance gone"
        await _history(session, inp, spec.version, "failed", reason)
        return PrepareResult("rejected", spec.version, reason=reason)
    try:
        task_input = _task_input(instance, event, spec)
    except (MappingError, InvalidInput) as exc:
        reason = str(exc) if isinstance(exc, MappingError) else exc.message
        await _history(session, inp, spec.version, "failed", reason)
        return PrepareResult("rejected", spec.version, reason=reason)
    new = _new_task(settings, inp, spec, task_input, event, instance.model)
    await add_task(session, new, {"limits": new.limits, "event_id": event.id,
                                  "instance_id": config.instance_id})  # fmt: skip
    await _history(session, inp, spec.version, "running", None)
    return PrepareResult("start", spec.version, workflow_input(settings, new, spec))


def _task_input(instance: AgentInstance, event: Event, spec: AgentSpec) -> dict[str, Any]:
    """The input defaults, then what the subscription's mapping makes of the event.

    Without a mapping the defaults alone are the input (the event only says when to run);
    with neither, the trigger's default input: a prompt naming the event and its data.
    """
    sub = matching_subscription(instance.subscriptions, event) or {}
    defaults = instance.input_defaults or {}
    mapping = sub.get("input")
    mapped = map_input(mapping, event_view(event)) if mapping is not None or not defaults else {}
    task_input = {**defaults, **mapped}
    problems = input_problems(spec.input_schema, task_input)
    if problems:
        fields = ", ".join(p["field"] for p in problems)
        raise InvalidInput(f"the event's input does not match the agent's input schema: {fields}")
    spec.render_prompt(task_input)  # a prompt template the input cannot fill is refused here
    return task_input


def _new_task(
    settings: Settings,
    inp: PrepareInput,
    spec: AgentSpec,
    task_input: dict[str, Any],
    event: Event,
    model: str | None,
) -> NewTask:
    config = inp.config
    max_steps = min(spec.limits.max_steps, settings.max_steps)
    limits: dict[str, Any] = {
        "max_steps": max_steps, "max_tokens": spec.limits.max_tokens,
        "max_cost": spec.limits.max_cost, "timeout_seconds": spec.limits.timeout_seconds,
    }  # fmt: skip
    return NewTask(
        id=inp.task_id, agent=spec.name, agent_version=spec.version, owner=config.owner,
        input=task_input, model=model or spec.model.name or settings.default_model,
        max_steps=max_steps, limits=limits, relation=INSTANCE_RELATION, team_id=config.team_id,
        event_id=event.id,
    )  # fmt: skip


async def _history(
    session: AsyncSession, inp: PrepareInput, version: str, outcome: str, reason: str | None
) -> None:
    """The history entry of the event (once: a retry finds it)."""
    found = await session.scalar(
        select(InstanceHistory).where(
            InstanceHistory.instance_id == inp.config.instance_id,
            InstanceHistory.event_id == inp.delivery.event_id,
        )
    )
    if found is not None:
        return
    now = utcnow()
    final = outcome != "running"
    session.add(
        InstanceHistory(
            team_id=inp.config.team_id, instance_id=inp.config.instance_id,
            event_id=inp.delivery.event_id, task_id=None if final else inp.task_id,
            agent_version=version, outcome=outcome, reason=reason, started_at=now,
            finished_at=now if final else None, duration_seconds=0.0 if final else None,
        )
    )  # fmt: skip
