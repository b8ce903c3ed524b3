"""Approvals and budget questions waiting, read from the task rows when the API is scraped."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cape.db.models import Task
from cape.domain import TaskStatus
from cape.telemetry.metrics import TASKS_WAITING, TASKS_WAITING_OLDEST, team_of

KINDS = ("approval", "budget")


async def refresh_waiting(session: AsyncSession, input_timeout_seconds: float) -> None:
    """Set `cape_tasks_waiting*` from the rows in `input_required` (one query).

    A question's age is its expiry minus the input timeout (when it was asked); a question
    without an expiry (asked by an older worker) counts but has no age.
    """
    rows = (
        await session.execute(
            select(Task.agent, Task.team_id, Task.pending_input).where(
                Task.status == TaskStatus.INPUT_REQUIRED
            )
        )
    ).all()
    now = datetime.now(UTC)
    counts: Counter[tuple[str, str, str]] = Counter()
    oldest = dict.fromkeys(KINDS, 0.0)
    for agent, team_id, pending in rows:
        kind = str((pending or {}).get("kind", "unknown"))
        counts[(agent, team_of(team_id), kind)] += 1
        expires = (pending or {}).get("expires_at")
        if not expires:
            continue
        asked = datetime.fromisoformat(expires) - timedelta(seconds=input_timeout_seconds)
        if asked.tzinfo is None:
            asked = asked.replace(tzinfo=UTC)
        oldest[kind] = max(oldest.get(kind, 0.0), (now - asked).total_seconds())
    TASKS_WAITING.clear()
    for labels, count in counts.items():
        TASKS_WAITING.labels(*labels).set(count)
    for kind, age in oldest.items():
        TASKS_WAITING_OLDEST.labels(kind).set(max(age, 0.0))
