"""A task that names a capability instead of an agent: the request's rules and the assigner."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.tasks.schemas import TaskCreate
from cape.assign.choose import Assignment, choose_agent
from cape.assign.event import assigned_for
from cape.auth import Principal
from cape.db.models import Task
from cape.errors import InvalidInput


def check_target(body: TaskCreate, where: str = "body") -> None:
    """Exactly one of `agent` and `capability`; `complexity` only with a capability.

    Args:
        body: The request's task.
        where: Where the task stands in the request (`body`, or `body.task` in a multipart).

    Raises:
        InvalidInput: Naming the field at fault (`agent`, `capability`, `complexity` or
            `agent_version` under `where`).
    """
    if body.agent is not None and body.capability is not None:
        _refuse(f"{where}.capability", "give either `agent` or `capability`, not both")
    if body.agent is None and body.capability is None:
        _refuse(f"{where}.agent", "give `agent` (an agent's name) or `capability`")
    if body.capability is None and body.complexity is not None:
        _refuse(f"{where}.complexity", "`complexity` goes with `capability`, not with `agent`")
    if body.capability is not None and body.agent_version is not None:
        _refuse(
            f"{where}.agent_version", "`agent_version` goes with `agent`, not with `capability`"
        )


async def assignment(
    session: AsyncSession, principal: Principal, body: TaskCreate
) -> Assignment | None:
    """The assigner's choice for a request naming a capability (None for one naming an agent)."""
    if body.capability is None:
        return None
    return await choose_agent(
        session, principal.team_id, body.capability, body.complexity, field_prefix="body."
    )


async def same_target(
    sessions: async_sessionmaker[AsyncSession], task: Task, body: TaskCreate
) -> bool:
    """Whether a repeated request (same Idempotency-Key) asks for what made `task`.

    A request naming a capability matches the task assigned for that capability and
    complexity, whichever agent it got.
    """
    if body.capability is None:
        return task.agent == body.agent
    async with sessions() as session:
        data = await assigned_for(session, task.id)
    if data is None:
        return False
    return bool(data["capability"] == body.capability and data["complexity"] == body.complexity)


def _refuse(field: str, message: str) -> None:
    raise InvalidInput(message, details=[{"field": field, "message": message}])
