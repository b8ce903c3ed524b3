"""Events a delegated task writes on its parent's stream: its progress, waits and end.

The child's step ends (`child-progress`), a question it waits on (`child-waiting`) and its end
(`child-finished`) go to the parent in the child's own transaction, so the parent's stream shows
its children's work without any token (docs/multi-agent.md#events).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.exc import NoResultFound
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from cape.contracts.delegation import DELEGATED_RELATION
from cape.db.events import NewEvent, append_events_now
from cape.db.tables import TASKS
from cape.domain import Channel

log = structlog.get_logger(__name__)
KEPT = 4096  # tasks whose parent is remembered (a task's parent never changes)
_parents: OrderedDict[str, str | None] = OrderedDict()


async def delegating_parent(session: AsyncSession, task_id: str) -> str | None:
    """The task that delegated `task_id`, or None (not a delegated task)."""
    if task_id in _parents:
        _parents.move_to_end(task_id)
        return _parents[task_id]
    return await session.run_sync(delegating_parent_now, task_id)


def delegating_parent_now(session: Session, task_id: str) -> str | None:
    """`delegating_parent` on a synchronous session."""
    if task_id in _parents:
        _parents.move_to_end(task_id)
        return _parents[task_id]
    row = session.execute(
        select(TASKS.c.parent_id, TASKS.c.relation).where(TASKS.c.id == task_id)
    ).one_or_none()
    if row is None:
        return None  # not known yet: asked again next time
    parent = row.parent_id if row.relation == DELEGATED_RELATION else None
    _parents[task_id] = parent
    if len(_parents) > KEPT:
        _parents.popitem(last=False)
    return parent


async def tell_parent(
    session: AsyncSession, task_id: str, type_: str, data: dict[str, Any], key: str
) -> None:
    """Append `type_` to the parent's stream when `task_id` is a delegated task (once per key)."""
    await session.run_sync(tell_parent_now, task_id, type_, data, key)


def tell_parent_now(
    session: Session, task_id: str, type_: str, data: dict[str, Any], key: str
) -> None:
    """`tell_parent` on a synchronous session."""
    parent = delegating_parent_now(session, task_id)
    if parent is None:
        return
    event = NewEvent(
        Channel.LIFECYCLE,
        type_,
        {"child_id": task_id, **data},
        dedupe_key=f"{type_}:{task_id}:{key}",
    )
    try:
        append_events_now(session, parent, [event])
    except NoResultFound:
        # The parent's row is gone (deleted by retention while a detached child ran on): the
        # child's own step must not fail for want of a stream to tell. Nothing was written.
        log.warning("delegating task has no row; its child's event is dropped", parent=parent)
