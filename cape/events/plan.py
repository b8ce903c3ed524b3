"""Which agents an event starts, with what input: the routing decision, free of I/O.

The routing activity records this plan; the trigger dry-run returns it as is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cape.assign.choose import Assignment
from cape.contracts.locks import valid_resource
from cape.errors import InvalidInput
from cape.events.ids import EventStatus, Priority, RouteStatus
from cape.events.mapping import MappingError, map_input
from cape.events.match import filter_matches, type_matches
from cape.registry.spec import AgentSpec, Trigger
from cape.registry.validate import input_problems


@dataclass(frozen=True)
class RoutePlan:
    """What the event does for one agent version (the trigger's owner).

    `assignment` is set when the fired trigger names a capability and an agent was chosen:
    the task runs on `assignment.agent`, and `reason` names it.
    """

    agent: str
    agent_version: str
    trigger: str  # the trigger's event pattern
    status: RouteStatus
    priority: Priority
    input: dict[str, Any] | None = None
    reason: str | None = None
    problems: list[dict[str, str]] = field(default_factory=list)
    assignment: Assignment | None = None

    @property
    def runs_on(self) -> str:
        """The agent whose task the route starts: the assigned one, else the trigger's own."""
        return self.assignment.agent if self.assignment is not None else self.agent


def fired_trigger(spec: AgentSpec, event: dict[str, Any]) -> Trigger | None:
    """The first trigger of `spec` whose type and filter match `event`, or None."""
    typed = [t for t in spec.triggers if type_matches(t.event, event["type"])]
    return next((t for t in typed if filter_matches(t.filter, event["data"])), None)


def plan_agent(
    spec: AgentSpec,
    event: dict[str, Any],
    target: AgentSpec | None = None,
    assignment: Assignment | None = None,
) -> RoutePlan | None:
    """The route of `event` to `spec`'s version, or None when no trigger names its type.

    The first trigger whose type and filter match fires; if types match but no filter does,
    the route is `filtered`. A mapping that fails or yields input the agent's schema refuses
    is a `failed` route with the reason (never dropped).

    Args:
        spec: The version whose triggers are tried (the trigger's owner).
        event: The event as triggers see it (`cape.events.routing.event_view`).
        target: When the fired trigger names a capability: the spec of the agent chosen for
            it (`assignment`); the input is checked against its schema, prompt and locks.
        assignment: The assigner's choice `target` comes from (its reason goes in the plan's).
    """
    typed = [t for t in spec.triggers if type_matches(t.event, event["type"])]
    if not typed:
        return None
    fired = fired_trigger(spec, event)
    priority = Priority(event["priority"])
    if fired is None:
        reason = "no trigger filter matched the event's data"
        return RoutePlan(
            spec.name, spec.version, typed[0].event, RouteStatus.FILTERED, priority, None, reason
        )
    if fired.priority is not None:
        priority = Priority(fired.priority)
    base = (spec.name, spec.version, fired.event)
    runner, note = spec, ""
    if fired.capability is not None:
        if target is None or assignment is None:  # the caller found no candidate
            reason = f"no agent of the team can take the capability {fired.capability!r}"
            return RoutePlan(*base, RouteStatus.FAILED, priority, None, reason)
        runner, note = target, f"assigned to {target.name} {target.version}: "
    try:
        mapped = map_input(fired.input, event)
    except MappingError as exc:
        return RoutePlan(*base, RouteStatus.FAILED, priority, None, note + str(exc), [], assignment)
    problems = input_problems(runner.input_schema, mapped)
    if problems:
        fields = ", ".join(p["field"] for p in problems)
        reason = f"{note}mapped input does not match the agent's input schema: {fields}"
        return RoutePlan(*base, RouteStatus.FAILED, priority, mapped, reason, problems, assignment)
    try:
        runner.render_prompt(mapped)
        runner.render_locks(mapped)
        concurrency_lock(spec.name, fired, event)
    except InvalidInput as exc:
        why = note + exc.message
        return RoutePlan(*base, RouteStatus.FAILED, priority, mapped, why, [], assignment)
    except MappingError as exc:
        why = note + str(exc)
        return RoutePlan(*base, RouteStatus.FAILED, priority, mapped, why, [], assignment)
    if assignment is not None:
        reason = f"{note}{assignment.reason}"
        return RoutePlan(*base, RouteStatus.STARTED, priority, mapped, reason, [], assignment)
    return RoutePlan(*base, RouteStatus.STARTED, priority, mapped)


def concurrency_lock(agent: str, trigger: Trigger, event: dict[str, Any]) -> str | None:
    """The lock of the trigger's rendered `concurrency_key`, None without one.

    `concurrency:<agent>:<event pattern>:<key>`: its tasks with the same key run one at a time.

    A key that renders empty or with characters a resource name cannot hold is a MappingError.
    """
    if trigger.concurrency_key is None:
        return None
    key = str(map_input({"key": trigger.concurrency_key}, event)["key"]).strip()
    pattern = re.sub(r"[^A-Za-z0-9._:@+=-]", "_", trigger.event)
    name = f"concurrency:{agent}:{pattern}:{key}"
    if not key or not valid_resource(name):
        raise MappingError(
            f"trigger concurrency_key renders {key!r}: not a resource name part (letters, "
            "digits and ._:@+=-, with the agent and event at most 200 characters)"
        )
    return name


def outcome(routes: list[RoutePlan]) -> tuple[EventStatus, str | None]:
    """The event's status from its routes, with a reason when nothing started."""
    statuses = {r.status for r in routes}
    if RouteStatus.STARTED in statuses:
        return EventStatus.ROUTED, None
    if RouteStatus.FAILED in statuses:
        failed = [r for r in routes if r.status == RouteStatus.FAILED]
        return EventStatus.FAILED, "; ".join(f"{r.agent}: {r.reason}" for r in failed)
    if RouteStatus.FILTERED in statuses or RouteStatus.DEBOUNCED in statuses:
        return EventStatus.FILTERED, "a trigger matched the type but not its filter"
    return EventStatus.UNHANDLED, "no agent's trigger matches this event type"
