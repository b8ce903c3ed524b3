"""The publish_event tool: a task publishes an event that may start other agents.

The event carries its cause (the task, and the event that started the task), so the loop guard
stops a chain deeper than `CAPE_EVENT_MAX_DEPTH`, or an event that would start the publishing
agent again, and logs it as `failed` with the reason (docs/events.md).
"""

from __future__ import annotations

import json
from typing import Any

from activities.tools.base import Placement, Risk, ToolContext, ToolError, ToolOutput, ToolSpec
from cape.registry.spec import EVENT_PATTERN


async def publish_event(ctx: ToolContext, args: dict[str, Any]) -> ToolOutput:
    """Store and route the event; the model is told its id."""
    if ctx.publish_event is None:
        raise ToolError("publishing events is not available on this worker")
    data = args.get("data") or {}
    size = len(json.dumps(data, separators=(",", ":")).encode())
    if size > ctx.settings.event_max_data_bytes:
        raise ToolError(f"data is {size} bytes, above {ctx.settings.event_max_data_bytes}")
    key = f"task:{ctx.task_id}:{ctx.step_no}"  # a retried step finds its event
    priority = str(args.get("priority", "normal"))
    found = await ctx.publish_event(ctx.task_id, key, str(args["type"]), data, priority)
    record = {"event_id": found["event_id"], "type": args["type"], "depth": found["depth"]}
    return ToolOutput(
        content=f"published event {found['event_id']} ({args['type']})",
        records=[("event-published", record)],
    )


TOOLS: list[ToolSpec] = [
    ToolSpec(
        name="publish_event",
        description=(
            "Publish an event of your team (e.g. 'report.ready'): agents whose triggers match "
            "it start tasks. Give its type and data; returns the event id."
        ),
        parameters={
            "type": "object",
            "properties": {
                "type": {"type": "string", "pattern": EVENT_PATTERN, "description": "Its type."},
                "data": {"type": "object", "description": "Its data (a JSON object)."},
                "priority": {
                    "type": "string",
                    "enum": ["critical", "high", "normal", "low"],
                    "default": "normal",
                },
            },
            "required": ["type"],
            "additionalProperties": False,
        },
        risk=Risk.EXTERNAL,
        placement=Placement.PLATFORM,
        handler=publish_event,
    )
]
