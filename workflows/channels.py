"""Channels of AgentTaskWorkflow: the inbox another task's `send_message` signals into.

The `receive_message` signal keeps each message once (a retried send step signals the same id
again); a `read_messages` call takes the unread ones, after waiting for one when the model asks
to (a workflow timer, bounded), and hands them to its tool step in the step's input, so a step
retried after a crash reads the same messages and no message is read twice. The inbox and the
ids seen travel across continue-as-new in the `Carry`.
"""

from __future__ import annotations

import contextlib
import json
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.types import ToolCall
    from cape.contracts.channels import READ_TOOL, WAIT_MAX_SECONDS, ChannelMessage
    from cape.contracts.task_input import Carry
    from cape.contracts.temporal import MESSAGE_SIGNAL
    from workflows.steps import StepRunner

# Reading messages is a new path of the tool step (issue 17).
CHANNELS_PATCH = "channels"


class Channels(StepRunner):
    """The task's inbox: filled by the `receive_message` signal, emptied by `read_messages`."""

    def __init__(self) -> None:
        super().__init__()
        self._inbox: list[ChannelMessage] = []
        self._seen_messages: set[str] = set()

    @workflow.signal(name=MESSAGE_SIGNAL)
    def receive_message(self, message: ChannelMessage) -> None:
        """Keep a message from a task of the tree until a `read_messages` step reads it."""
        if message.id in self._seen_messages:
            return  # the sender's step ran again after a crash: delivered already
        self._seen_messages.add(message.id)
        self._inbox.append(message)

    async def _take_messages(self, call: ToolCall) -> list[ChannelMessage] | None:
        """For a `read_messages` call, the unread messages (None for any other tool)."""
        if call.name != READ_TOOL or not workflow.patched(CHANNELS_PATCH):
            return None
        wait = wait_seconds(call.arguments)
        if wait > 0 and not self._inbox:
            waiting = f"waiting up to {wait:g} s for a message"
            self._state.current_step = f"{READ_TOOL}: {waiting}"  # the live state shows it
            self._show_progress(waiting)
            # Nothing came before the timeout: the model reads that there is no new message.
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: bool(self._inbox), timeout=timedelta(seconds=wait)
                )
        taken, self._inbox = self._inbox, []
        return taken

    def _carry_messages(self, carry: Carry) -> Carry:
        carry.inbox = list(self._inbox)
        carry.seen_messages = sorted(self._seen_messages)
        return carry

    def _take_carried_messages(self, carry: Carry) -> None:
        self._inbox = list(carry.inbox)
        self._seen_messages = set(carry.seen_messages)


def wait_seconds(arguments: str) -> float:
    """The call's `wait_seconds`, within 0 and the maximum (0 when absent or not a number).

    The tool step checks the arguments and tells the model what is wrong with them.
    """
    try:
        args = json.loads(arguments or "{}")
    except ValueError:
        return 0.0
    value = args.get("wait_seconds") if isinstance(args, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(min(max(value, 0), WAIT_MAX_SECONDS))
