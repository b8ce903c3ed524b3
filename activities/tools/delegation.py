"""The delegation tools' schemas: `delegate` and `await_task` (docs/multi-agent.md).

The model sees them like any tool, but the task's workflow runs them itself (it starts the
child task as a child workflow), so their handler here only answers a call that reached the
tool step anyway: an agent that does not list the tool.
"""

from __future__ import annotations

from typing import Any

from activities.tools.base import Placement, Risk, ToolContext, ToolError, ToolOutput, ToolSpec


async def run_in_workflow(ctx: ToolContext, args: dict[str, Any]) -> ToolOutput:
    """Never runs for an agent that lists the tool: its workflow handles the call."""
    raise ToolError("delegation tools run in the task's workflow; list them in the agent's tools")


BUDGET = {"type": "number", "minimum": 0}
TOOLS: list[ToolSpec] = [
    ToolSpec(
        name="delegate",
        description=(
            "Give a sub-task to another agent of your team: it runs as a task of its own and, "
            "with wait (the default), its answer is this call's result. Without wait you get "
            "its task id at once: collect it later with await_task. Name the `agent` and its "
            "`input` (an object matching the agent's input, or a prompt string). Its tokens and "
            "cost count against your own budget."
        ),
        parameters={
            "type": "object",
            "properties": {
                "agent": {"type": "string", "description": "The agent to delegate to."},
                "capability": {
                    "type": "string",
                    "description": (
                        "Instead of agent: a capability; the platform picks the team's agent "
                        "that has it (available first, then the best record)."
                    ),
                },
                "complexity": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 10,
                    "description": "With capability: how hard the sub-task is (1-10).",
                },
                "input": {
                    "type": ["object", "string"],
                    "description": "The sub-task's input, or its prompt as a string.",
                },
                "wait": {"type": "boolean", "default": True},
                "max_tokens": {**BUDGET, "description": "At most this many tokens for it."},
                "max_cost": {**BUDGET, "description": "At most this cost (USD) for it."},
                "share_workspace": {
                    "type": "boolean",
                    "default": False,
                    "description": "It works in a sub-folder of your workspace (you see its files)",
                },
            },
            "required": ["input"],
            "additionalProperties": False,
        },
        risk=Risk.EXTERNAL,
        placement=Placement.PLATFORM,
        handler=run_in_workflow,
    ),
    ToolSpec(
        name="await_task",
        description=(
            "Wait for a task you delegated without wait and get its answer (or why it did not "
            "answer). Waits up to timeout_seconds (default 3600; 0: answer at once)."
        ),
        parameters={
            "type": "object",
            "properties": {
                "task_id": {"type": "string", "description": "The id delegate returned."},
                "timeout_seconds": {"type": "number", "minimum": 0},
            },
            "required": ["task_id"],
            "additionalProperties": False,
        },
        risk=Risk.READ,
        placement=Placement.PLATFORM,
        handler=run_in_workflow,
    ),
]
