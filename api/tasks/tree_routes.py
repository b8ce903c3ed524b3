"""A task's delegation tree and its messages (docs/multi-agent.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import OwnedTaskDep, ReadSessionsDep, SettingsDep
from api.tasks.tree import task_messages, task_tree
from api.tasks.tree_schemas import MessagePage, TreeOut

router = APIRouter(prefix="/tasks", tags=["tasks"])


@router.get("/{task_id}/tree", response_model=TreeOut)
async def get_tree(task: OwnedTaskDep, reads: ReadSessionsDep, settings: SettingsDep) -> TreeOut:
    """The delegation tree the task belongs to, from its root to its leaves.

    Each node has its agent, status, parent and usage; a tree of more than 200 tasks is cut
    (`truncated`). A task nobody delegated and that delegated nothing is a tree of one.
    """
    return await task_tree(reads, task, settings)


@router.get("/{task_id}/messages", response_model=MessagePage)
async def list_messages(
    task: OwnedTaskDep,
    reads: ReadSessionsDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> MessagePage:
    """The messages the task sent and received (`send_message`), oldest first."""
    return await task_messages(reads, task, limit, cursor)
