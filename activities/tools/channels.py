"""send_message and read_messages: short messages between the tasks of a delegation tree.

A task may write to its parent, its children and its siblings (docs/multi-agent.md, Channels).
Sending runs here, in the tool step (`activities/channels.py` checks the relation, signals the
recipient and logs the message); what `read_messages` returns was taken from the workflow's
inbox before the step started (`workflows/channels.py`) and arrives in `ctx.messages`.
"""

from __future__ import annotations

from typing import Any

from activities.channels import MessageRefused
from activities.tools.base import Placement, Risk, ToolContext, ToolError, ToolOutput, ToolSpec
from cape.contracts.channels import (
    CHILDREN,
    MESSAGE_MAX_CHARS,
    PARENT,
    READ_TOOL,
    SEND_TOOL,
    SIBLINGS,
    WAIT_MAX_SECONDS,
)


async def send_message(ctx: ToolContext, args: dict[str, Any]) -> ToolOutput:
    """Send the text to a relative (or broadcast to the children or siblings)."""
    if ctx.messenger is None:
        raise ToolError("messages are not available on this worker")
    text = str(args["text"])
    if len(text) > MESSAGE_MAX_CHARS:
        raise ToolError(
            f"text: {len(text)} characters, above the limit of {MESSAGE_MAX_CHARS}; send a "
            "shorter message (put longer content in a file or your answer)"
        )
    try:
        sent = await ctx.messenger.send(ctx.task_id, ctx.step_no, str(args["to"]), text)
    except MessageRefused as exc:
        raise ToolError(str(exc)) from None
    names = ", ".join(f"{t.id} ({t.agent})" for t in sent.delivered)
    content = f"sent {sent.id} to {names}"
    if sent.skipped:
        content += "; not to " + ", ".join(f"{t.id} ({t.status})" for t in sent.skipped)
    return ToolOutput(content=content)


async def read_messages(ctx: ToolContext, args: dict[str, Any]) -> ToolOutput:
    """The messages the workflow's inbox handed to this step, oldest first."""
    if ctx.messages is None:
        raise ToolError("messages are not available to this task (its workflow has no inbox)")
    if not ctx.messages:
        return ToolOutput(content="no new messages")
    lines = [f"{len(ctx.messages)} new message(s):"]
    for m in ctx.messages:
        lines.append(f"- from {m.sender} ({m.sender_agent}) at {m.sent_at} [{m.id}]: {m.text}")
    return ToolOutput(content="\n".join(lines))


TOOLS: list[ToolSpec] = [
    ToolSpec(
        name=SEND_TOOL,
        description=(
            "Send a short message to another task of your delegation tree: your parent, one "
            "of your children or a sibling (by task id, or 'parent'), or to all your "
            "'children' or 'siblings' at once. It arrives at once; they read it with "
            "read_messages."
        ),
        parameters={
            "type": "object",
            "properties": {
                "to": {
                    "type": "string",
                    "minLength": 1,
                    "description": f"A task id, or '{PARENT}', '{CHILDREN}' or '{SIBLINGS}'.",
                },
                "text": {
                    "type": "string",
                    "minLength": 1,
                    "description": f"The message, at most {MESSAGE_MAX_CHARS} characters.",
                },
            },
            "required": ["to", "text"],
            "additionalProperties": False,
        },
        risk=Risk.EXTERNAL,
        placement=Placement.PLATFORM,
        handler=send_message,
    ),
    ToolSpec(
        name=READ_TOOL,
        description=(
            "Read the messages other tasks of your delegation tree sent you and you have not "
            "read yet (sender task id and agent, time, text). With wait_seconds, wait for "
            "one to arrive when there is none."
        ),
        parameters={
            "type": "object",
            "properties": {
                "wait_seconds": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": WAIT_MAX_SECONDS,
                    "description": f"Wait up to this long (at most {WAIT_MAX_SECONDS}) "
                    "for a message when none is unread.",
                },
            },
            "additionalProperties": False,
        },
        risk=Risk.READ,
        placement=Placement.PLATFORM,
        handler=read_messages,
    ),
]
