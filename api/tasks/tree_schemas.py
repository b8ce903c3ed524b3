"""Schemas of a task's delegation tree and of the messages its tasks exchange."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from api.tasks.schemas import Usage
from cape.domain import TaskStatus


class TreeNode(BaseModel):
    """One task of a delegation tree."""

    id: str
    agent: str
    status: TaskStatus
    parent_id: str | None = Field(None, description="Its parent in the tree (null at the root).")
    depth: int = Field(description="0 at the root, 1 for its children, and so on.")
    usage: Usage
    created_at: datetime
    finished_at: datetime | None
    links: dict[str, str] = Field(default_factory=dict)


class TreeOut(BaseModel):
    """A delegation tree from its root to its leaves, level by level."""

    root_id: str
    task_id: str = Field(description="The task the tree was asked for.")
    nodes: list[TreeNode] = Field(description="The root first, then each level, oldest first.")
    truncated: bool = Field(description="More tasks than the bound: the deepest were left out.")
    usage: Usage = Field(description="The sum over the nodes listed.")


class MessageOut(BaseModel):
    """One message a task sent or received (a `message` event of its log)."""

    seq: int = Field(description="The event's sequence number in this task's log.")
    id: str = Field(description="The message id: the same on the sender's and recipients' logs.")
    direction: str = Field(description="`in` (received) or `out` (sent).")
    sender: str = Field(description="The sending task's id.")
    sender_agent: str
    to: str = Field(description="The recipient's id, or what the sender named (`parent`, ...).")
    recipients: list[str] | None = Field(None, description="Who got a sent message.")
    text: str
    sent_at: str
    ts: datetime


class MessagePage(BaseModel):
    """One page of messages, oldest first; pass `next_cursor` as `cursor` for the next."""

    items: list[MessageOut]
    next_cursor: str | None
