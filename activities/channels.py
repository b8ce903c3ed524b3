"""Sending a message to another task of the delegation tree, from the sender's tool step.

The relation is checked in the database, the recipient's workflow gets the message as the
`receive_message` signal (by workflow id: the task id), then a `message` event on channel
`messages` is written to both tasks' logs. The message id is the sender's task and step, so
a step run again after a crash signals the same id (the recipient keeps it once) and its
events' dedupe keys make the writes no-ops: nothing is delivered or logged twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from cape.contracts.channels import (
    CHILDREN,
    PARENT,
    SIBLINGS,
    ChannelMessage,
    message_id,
)
from cape.contracts.temporal import MESSAGE_SIGNAL
from cape.db.events import append_event
from cape.db.models import Task, TaskEvent, utcnow
from cape.domain import Channel, EventType, TaskStatus
from cape.task_tree import Kin, kin


class MessageRefused(Exception):
    """A message that cannot be sent; the model reads the reason."""


@dataclass
class Sent:
    """Who got the message, and the relatives a broadcast skipped because they ended."""

    id: str
    delivered: list[Task]
    skipped: list[Task]


class Messenger:
    """Built in the worker with the database and the Temporal client (to signal recipients)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], client: Client) -> None:
        self.sessions = sessions
        self.client = client

    async def send(self, sender_id: str, step_no: int, to: str, text: str) -> Sent:
        """Deliver `text` to `to` (a task id, `parent`, `children` or `siblings`)."""
        async with self.sessions() as session:
            sender = await session.get(Task, sender_id)
            if sender is None:
                raise MessageRefused(f"task {sender_id} has no row")
            targets = _targets(sender, await kin(session, sender), to)
            session.expunge_all()
        mid = message_id(sender_id, step_no)
        live, ended, done = [], [], []
        for task in targets:
            if not TaskStatus(task.status).terminal:
                live.append(task)
            elif await self._logged(task.id, f"message:{mid}:in"):
                done.append(task)  # an earlier attempt of this step delivered it, then it ended
            else:
                ended.append(task)
        if to not in (CHILDREN, SIBLINGS) and ended:
            raise MessageRefused(_ended(ended[0]))
        if not live and not done:
            raise MessageRefused(f"none of your {to} is running: " + ", ".join(map(_ended, ended)))
        sent_at = utcnow().isoformat()
        delivered: list[Task] = list(done)
        for task in live:
            message = ChannelMessage(mid, sender_id, sender.agent, task.id, text, sent_at)
            try:
                await self.client.get_workflow_handle(task.id).signal(MESSAGE_SIGNAL, message)
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:
                    raise  # Temporal away: the step is retried and sends the same id
                ended.append(task)  # it ended after the row was read
                continue
            delivered.append(task)
            await self._log(task.id, None, "in", message, f"message:{mid}:in")
        if not delivered:
            raise MessageRefused(", ".join(map(_ended, ended)))
        out = ChannelMessage(mid, sender_id, sender.agent, to, text, sent_at)
        await self._log(
            sender_id, step_no, "out", out, f"message:{mid}:out", [t.id for t in delivered]
        )
        log = structlog.get_logger(__name__)
        log.info("message sent", message_id=mid, to=[t.id for t in delivered])
        return Sent(mid, delivered, [t for t in ended if t not in delivered])

    async def _logged(self, task_id: str, key: str) -> bool:
        async with self.sessions() as session:
            found = await session.scalar(
                select(TaskEvent.id).where(
                    TaskEvent.task_id == task_id, TaskEvent.dedupe_key == key
                )
            )
        return found is not None

    async def _log(
        self,
        task_id: str,
        step_no: int | None,
        direction: str,
        message: ChannelMessage,
        key: str,
        recipients: list[str] | None = None,
    ) -> None:
        # One transaction per task: two tasks messaging each other never wait on each other's
        # row locks.
        data: dict[str, Any] = {
            "id": message.id,
            "direction": direction,
            "from": message.sender,
            "from_agent": message.sender_agent,
            "to": message.recipient,
            "text": message.text,
            "sent_at": message.sent_at,
        }
        if recipients is not None:
            data["recipients"] = recipients
        async with self.sessions.begin() as session:
            await append_event(
                session,
                task_id,
                channel=Channel.MESSAGES,
                type=EventType.MESSAGE,
                data=data,
                step_no=step_no,
                dedupe_key=key,
            )


def _targets(sender: Task, family: Kin, to: str) -> list[Task]:
    if to == PARENT:
        if family.parent is None:
            raise MessageRefused("this task has no parent: no task delegated it")
        return [family.parent]
    if to == CHILDREN:
        if not family.children:
            raise MessageRefused("this task has no children: it delegated no work")
        return family.children
    if to == SIBLINGS:
        if not family.siblings:
            raise MessageRefused("this task has no siblings: no other child of its parent")
        return family.siblings
    if to == sender.id:
        raise MessageRefused("a task cannot send a message to itself")
    for task in family.all():
        if task.id == to:
            return [task]
    raise MessageRefused(
        f"task {to!r} is not your parent, one of your children or a sibling: "
        "messages stay within a delegation tree"
    )


def _ended(task: Task) -> str:
    return (
        f"task {task.id} ({task.agent}) has ended ({task.status}); only running tasks get messages"
    )
