"""Rebuilding the chat conversation from stored steps (history carries references only)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cape.artifacts import INPUT_PREFIX
from cape.contracts.steps import ChatMessage, ToolMessage, read_check, read_llm, read_tool
from cape.db.tables import ARTIFACTS, EVENTS, STEPS, TASKS
from cape.domain import EventType, StepKind
from cape.task_files import INPUT_DIR
from cape.task_text import user_message


async def load_messages(
    session: AsyncSession, task_id: str, system_prompt: str, before_step: int
) -> list[ChatMessage | ToolMessage]:
    """System prompt, the user's request, then every LLM, tool and check step before the step.

    A check step carries a message only when it asks the model to repair its answer. The
    request names the files the task was given (in `input/`), so the model knows to read them,
    and the locks it holds with their fences (docs/locks.md).
    """
    # Core statements on the tables: rows only, no ORM objects to build (a call per LLM step).
    task = (await session.execute(select(TASKS.c.input).where(TASKS.c.id == task_id))).first()
    if task is None:
        raise LookupError(f"task {task_id} has no row")
    request = user_message(task.input)
    files = list(
        await session.scalars(
            select(ARTIFACTS.c.name)
            .where(ARTIFACTS.c.task_id == task_id, ARTIFACTS.c.id.startswith(INPUT_PREFIX))
            .order_by(ARTIFACTS.c.name)
        )
    )
    if files:
        listed = ", ".join(f"{INPUT_DIR}/{name}" for name in files)
        request += f"\n\nFiles given with this task (in the workspace): {listed}"
    request += await _held_locks(session, task_id)
    messages: list[ChatMessage | ToolMessage] = [
        {"role": "system", "content": system_prompt},
        {"role": "user", "content": request},
    ]
    steps = await session.execute(
        select(STEPS.c.kind, STEPS.c.output)
        .where(
            STEPS.c.task_id == task_id,
            STEPS.c.step_no < before_step,
            STEPS.c.kind.in_([StepKind.LLM, StepKind.TOOL, StepKind.CHECK]),
        )
        .order_by(STEPS.c.step_no)
    )
    for step in steps:
        output = step.output or {}
        if step.kind == StepKind.LLM and "message" in output:
            messages.append(read_llm(output)["message"])
        elif step.kind == StepKind.CHECK and "message" in output:
            repair = read_check(output).get("message")
            if repair is not None:
                messages.append(repair)
        elif step.kind == StepKind.TOOL and "tool_call_id" in output:
            tool = read_tool(output)
            messages.append(
                {"role": "tool", "tool_call_id": tool["tool_call_id"], "content": tool["content"]}
            )
    return messages


async def _held_locks(session: AsyncSession, task_id: str) -> str:
    """The request's note on the task's locks and fences ("" when it holds none)."""
    events = await session.scalars(
        select(EVENTS.c.data)
        .where(EVENTS.c.task_id == task_id, EVENTS.c.type == EventType.LOCK_ACQUIRED)
        .order_by(EVENTS.c.seq)
    )
    held = [f"{d.get('resource')} (fence {d.get('fence')})" for d in events]
    if not held:
        return ""
    return (
        f"\n\nLocks this task holds: {', '.join(held)}. Pass a resource's fence with every "
        "write to it; tools see them as JSON in the CAPE_LOCK_FENCES environment variable."
    )
