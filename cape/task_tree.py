"""The delegation tree of tasks: who a task's parent, children and siblings are.

`delegate` (issue 17) starts a child task with `parent_id` set to the delegating task and
`relation` "delegated"; reruns and forks also set `parent_id` but are not part of a tree. The
channels (`activities/channels.py`) and the API's tree and children views read links here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cape.contracts.channels import DELEGATED
from cape.db.models import Task

# A tree larger than this is cut off (`truncated`): delegation bounds depth and children, and
# a view of thousands of nodes helps no one.
TREE_MAX_NODES = 200


@dataclass
class Kin:
    """A task's relatives in its delegation tree."""

    parent: Task | None
    children: list[Task]
    siblings: list[Task]

    def all(self) -> list[Task]:
        """Every relative, the parent first."""
        return ([self.parent] if self.parent else []) + self.children + self.siblings


def delegated(task: Task) -> bool:
    """Whether the task was started by another task's delegation."""
    return task.relation == DELEGATED and task.parent_id is not None


async def children_of(session: AsyncSession, parent_ids: Sequence[str]) -> list[Task]:
    """The delegated children of these tasks, oldest first."""
    if not parent_ids:
        return []
    rows = await session.scalars(
        select(Task)
        .where(Task.parent_id.in_(list(parent_ids)), Task.relation == DELEGATED)
        .order_by(Task.created_at, Task.id)
    )
    return list(rows)


async def kin(session: AsyncSession, task: Task) -> Kin:
    """The task's parent, children and siblings (same team only)."""
    parent = None
    siblings: list[Task] = []
    if delegated(task):
        assert task.parent_id is not None
        parent = await session.get(Task, task.parent_id)
        if parent is not None and parent.team_id != task.team_id:
            parent = None
        found = await children_of(session, [task.parent_id])
        siblings = [t for t in found if t.id != task.id and t.team_id == task.team_id]
    children = [t for t in await children_of(session, [task.id]) if t.team_id == task.team_id]
    return Kin(parent, children, siblings)


@dataclass
class Tree:
    """A delegation tree, root first, then level by level; `truncated` past the bound."""

    root: Task
    nodes: list[Task] = field(default_factory=list)
    truncated: bool = False


async def root_of(session: AsyncSession, task: Task) -> Task:
    """The task at the top of the task's delegation tree (the task itself if none)."""
    seen = {task.id}
    while delegated(task):
        assert task.parent_id is not None
        parent = await session.get(Task, task.parent_id)
        if parent is None or parent.team_id != task.team_id or parent.id in seen:
            break
        seen.add(parent.id)
        task = parent
    return task


async def tree_of(session: AsyncSession, task: Task, limit: int = TREE_MAX_NODES) -> Tree:
    """The whole tree the task belongs to, from its root, at most `limit` nodes."""
    root = await root_of(session, task)
    tree = Tree(root, [root])
    seen = {root.id}
    level = [root.id]
    while level:
        found = [t for t in await children_of(session, level) if t.team_id == root.team_id]
        level = []
        for child in found:
            if child.id in seen:
                continue
            if len(tree.nodes) >= limit:
                tree.truncated = True
                return tree
            seen.add(child.id)
            tree.nodes.append(child)
            level.append(child.id)
    return tree
