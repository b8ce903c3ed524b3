"""Channels between the tasks of a delegation tree: the message a signal carries, its limits.

The sender's tool step (`activities/channels.py`) signals the recipient's `AgentTaskWorkflow`
with a `ChannelMessage`; the workflow keeps it in its inbox (`workflows/channels.py`) until a
`read_messages` step hands it to the model. No `from __future__ import annotations`, for the
reason given in `cape.contracts.task_input`: this dataclass travels in the workflow's input.
"""

from dataclasses import dataclass
from typing import Final

SEND_TOOL: Final = "send_message"
READ_TOOL: Final = "read_messages"
# Messages coordinate; a long text belongs in a file of a shared workspace or a task's output.
MESSAGE_MAX_CHARS: Final = 2000
# How long one `read_messages` may block; the wait is a workflow timer, not a running activity.
WAIT_MAX_SECONDS: Final = 600
# Who a task may name in `to` besides a task id.
PARENT: Final = "parent"
CHILDREN: Final = "children"
SIBLINGS: Final = "siblings"
DELEGATED: Final = "delegated"  # `Task.relation` of a task another task delegated work to


@dataclass
class ChannelMessage:
    """Signal input of `receive_message`: one message from another task of the tree."""

    id: str  # `msg-<sender task id>-<step>`: a retried send step sends the same id
    sender: str  # the sending task's id
    sender_agent: str
    recipient: str
    text: str
    sent_at: str  # ISO 8601, the sender's clock


def message_id(sender: str, step_no: int) -> str:
    """The id of the message a task's step sends (the same on every attempt of the step)."""
    return f"msg-{sender}-{step_no}"
