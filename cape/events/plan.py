"""Which agents an event starts, with what input: the routing decision, free of I/O.

The routing activity records this plan; the trigger dry-run returns it as is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cape.contracts.locks import valid_resource
from cape.errors import InvalidInput
from cape.events.ids import EventStatus, Priority, RouteStatus
from cape.events.mapping import MappingError, map_input
from cape.events.match import filter_matches, type_matches
from cape.registry.spec import AgentSpec, Trigger
from cape.registry.validate import input_problems


@dataclass(frozen=True)
class RoutePlan:
    """What the event does for one agent version."""

    agent: str
    agent_version: str
    trigger: str  # the trigger's event pattern
    status: RouteStatus
    priority: Priority
    input: dict[str, Any] | None = None
    reason: str | None = None
    problems: list[dict[str, str]] = field(default_factory=list)


def plan_agent(spec: AgentSpec, event: dict[str, Any]) -> RoutePlan | None:
    """The route of `event` to `spec`'s version, or None when no trigger names its type.

    The first trigger whose type and filter match fires; if types match but no filter does,
    the route is `filtered`. A mapping that fails or yields input the agent's schema refuses
    is a `failed` route with the reason (never dropped).
    """
    typed = [t for t in spec.triggers if type_matches(t.event, event["type"])]
    if not typed:
        return None
    fired = next((t for t in typed if filter_matches(t.filter, event["data"])), None)
    priority = Priority(event["priority"])
    if fired is None:
        reason = "no trigger filter matched the event's data"
        return RoutePlan(
            spec.name, spec.version, typed[0].event, RouteStatus.FILTERED, priority, None, reason
        )
    if fired.priority is not None:
        priority = Priority(fired.priority)
    base = (spec.name, spec.version, fired.event)
    try:
        mapped = map_input(fired.input, event)
    except MappingError as exc:
        return RoutePlan(*base, RouteStatus.FAILED, priority, None, str(exc))
    problems = input_problems(spec.input_schema, mapped)
    if problems:
        fields = ", ".join(p["field"] for p in problems)
        reason = f"mapped input does not match the agent's input schema: {fields}"
        return RoutePlan(*base, RouteStatus.FAILED, priority, mapped, reason, problems)
    try:
        spec.render_prompt(mapped)
        spec.render_locks(mapped)
        concurrency_lock(spec.name, fired, event)
    except InvalidInput as exc:
        return RoutePlan(*base, RouteStatus.FAILED, priority, mapped, exc.message)
    except MappingError as exc:
        return RoutePlan(*base, RouteStatus.FAILED, priority, mapped, str(exc))
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
