"""Where a Cape task's server-side time goes, read from the rows it wrote."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa


def breakdown(sync_url: str, ids: Sequence[str]) -> dict[str, float]:
    """Where a Cape task's server-side time goes, from the rows it wrote (medians, ms).

    Row stamps are taken inside the activities' transactions, so "in step" includes the step's
    own database work and "between steps" is mostly Temporal: completion, workflow task,
    dispatch of the next activity, and the next activity's first transaction.
    """
    engine = sa.create_engine(sync_url)
    meta = sa.MetaData()
    tasks = sa.Table("tasks", meta, autoload_with=engine)
    steps = sa.Table("task_steps", meta, autoload_with=engine)
    events = sa.Table("task_events", meta, autoload_with=engine)
    per_task: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for chunk_start in range(0, len(ids), 500):
            chunk = list(ids[chunk_start : chunk_start + 500])
            for task_row in conn.execute(
                sa.select(
                    tasks.c.id, tasks.c.created_at, tasks.c.started_at, tasks.c.finished_at
                ).where(tasks.c.id.in_(chunk))
            ):
                per_task[task_row.id] = {"task": task_row, "steps": [], "events": 0}
            for row in conn.execute(
                sa.select(
                    steps.c.task_id,
                    steps.c.step_no,
                    steps.c.kind,
                    steps.c.started_at,
                    steps.c.finished_at,
                )
                .where(steps.c.task_id.in_(chunk))
                .order_by(steps.c.task_id, steps.c.step_no)
            ):
                per_task[row.task_id]["steps"].append(row)
            for row in conn.execute(
                sa.select(events.c.task_id, sa.func.count())
                .where(events.c.task_id.in_(chunk))
                .group_by(events.c.task_id)
            ):
                per_task[row[0]]["events"] = row[1]
    engine.dispose()

    def secs(a: datetime | None, b: datetime | None) -> float | None:
        if a is None or b is None:
            return None
        a = a if a.tzinfo else a.replace(tzinfo=UTC)
        b = b if b.tzinfo else b.replace(tzinfo=UTC)
        return (b - a).total_seconds() * 1000

    cols: dict[str, list[float]] = {}

    def add(key: str, value: float | None) -> None:
        if value is not None:
            cols.setdefault(key, []).append(value)

    for item in per_task.values():
        task, rows = item["task"], item["steps"]
        add("events per task", float(item["events"]))
        add("created -> first activity", secs(task.created_at, task.started_at))
        add("server-side total", secs(task.created_at, task.finished_at))
        gaps = 0.0
        inside = 0.0
        for k, row in enumerate(rows):
            body = secs(row.started_at, row.finished_at)
            add(f"in step: {row.kind}", body)
            inside += body or 0.0
            if k:
                gaps += secs(rows[k - 1].finished_at, row.started_at) or 0.0
        add("in steps (sum)", inside)
        add("between steps (sum)", gaps)
        if rows:
            add("last step -> finished", secs(rows[-1].finished_at, task.finished_at))
    return {key: statistics.median(values) for key, values in cols.items()}
