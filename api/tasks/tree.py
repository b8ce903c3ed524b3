"""A task's delegation tree, its children and its messages, read from the task rows and log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.pagination import decode_cursor, encode_cursor
from api.tasks.schemas import ChildOut, Usage
from api.tasks.tree_schemas import MessageOut, MessagePage, TreeNode, TreeOut
from api.tasks.views import task_usage
from cape.db.models import Task, TaskEvent
from cape.domain import Channel, EventType, TaskStatus
from cape.errors import InvalidInput
from cape.settings import Settings
from cape.task_tree import children_of, delegated, tree_of


async def task_children(sessions: async_sessionmaker[AsyncSession], task: Task) -> list[ChildOut]:
    """The task's delegated children: id, agent and status, oldest first."""
    async with sessions() as session:
        found = await children_of(session, [task.id])
    return [
        ChildOut(id=t.id, agent=t.agent, status=TaskStatus(t.status))
        for t in found
        if t.team_id == task.team_id
    ]


async def task_tree(
    sessions: async_sessionmaker[AsyncSession], task: Task, settings: Settings
) -> TreeOut:
    """The whole tree the task belongs to, from its root (bounded, the task's team only)."""
    async with sessions() as session:
        return await tree_out(session, task, settings)


async def tree_out(session: AsyncSession, task: Task, settings: Settings) -> TreeOut:
    """`task_tree` in the caller's session (the dashboard's task page)."""
    tree = await tree_of(session, task)
    depth = {tree.root.id: 0}
    nodes = []
    total = Usage(prompt_tokens=0, completion_tokens=0, total_tokens=0, cost_usd=0.0)
    for node in tree.nodes:
        parent = node.parent_id if node.id != tree.root.id and delegated(node) else None
        depth[node.id] = depth[parent] + 1 if parent in depth else 0
        usage = task_usage(node)
        total.prompt_tokens += usage.prompt_tokens
        total.completion_tokens += usage.completion_tokens
        total.total_tokens += usage.total_tokens
        total.cost_usd = round(total.cost_usd + usage.cost_usd, 6)
        nodes.append(
            TreeNode(
                id=node.id,
                agent=node.agent,
                status=TaskStatus(node.status),
                parent_id=parent,
                depth=depth[node.id],
                usage=usage,
                created_at=node.created_at,
                finished_at=node.finished_at,
                links={"self": f"{settings.base_url}/v1/tasks/{node.id}"},
            )
        )
    return TreeOut(
        root_id=tree.root.id, task_id=task.id, nodes=nodes, truncated=tree.truncated, usage=total
    )


async def task_messages(
    sessions: async_sessionmaker[AsyncSession], task: Task, limit: int, cursor: str | None
) -> MessagePage:
    """A page of the task's messages (sent and received), oldest first."""
    async with sessions() as session:
        return await messages_of(session, task, limit, _after(cursor) if cursor else 0)


async def messages_of(session: AsyncSession, task: Task, limit: int, after: int) -> MessagePage:
    """`task_messages` after sequence number `after`, in the caller's session."""
    query = (
        select(TaskEvent)
        .where(
            TaskEvent.task_id == task.id,
            TaskEvent.channel == Channel.MESSAGES,
            TaskEvent.type == EventType.MESSAGE,
            TaskEvent.seq > after,
        )
        .order_by(TaskEvent.seq)
        .limit(limit + 1)
    )
    rows = list(await session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if more and rows else None
    return MessagePage(
        items=[_message(row) for row in rows],
        next_cursor=encode_cursor(last.ts, str(last.seq)) if last else None,
    )


def _after(cursor: str) -> int:
    _, seq = decode_cursor(cursor)
    if not seq.isdigit():
        raise InvalidInput(
            "cursor is not valid", details=[{"field": "query.cursor", "message": "malformed"}]
        )
    return int(seq)


def _message(row: TaskEvent) -> MessageOut:
    data: dict[str, Any] = row.data
    return MessageOut(
        seq=row.seq,
        id=str(data.get("id", "")),
        direction=str(data.get("direction", "")),
        sender=str(data.get("from", "")),
        sender_agent=str(data.get("from_agent", "")),
        to=str(data.get("to", "")),
        recipients=data.get("recipients"),
        text=str(data.get("text", "")),
        sent_at=str(data.get("sent_at", "")),
        ts=row.ts,
    )
