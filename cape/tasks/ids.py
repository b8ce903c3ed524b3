"""Ids of tasks and of the artifacts and workflows derived from them."""

from __future__ import annotations

import hashlib
import uuid

API_TASK_PREFIX = "task_"  # ids the API gives; a schedule's runs are named after the schedule
SCHEDULE_RUN_PREFIX = "sch-"  # Temporal appends each run's time to it


def new_task_id(team_id: str, idempotency_key: str | None) -> str:
    """A fresh id, or one derived from the team and key (a retried start finds its workflow)."""
    if idempotency_key is None:
        return f"{API_TASK_PREFIX}{uuid.uuid4().hex}"
    digest = hashlib.sha256(f"{team_id}\0{idempotency_key}".encode()).hexdigest()
    return f"{API_TASK_PREFIX}{digest[:32]}"


def fork_seed_id(task_id: str) -> str:
    """The artifact id of a fork's starting workspace (a copy of its parent's snapshot)."""
    return f"seed-{task_id}"[:64]


def schedule_workflow_id(schedule_id: str) -> str:
    """The workflow id a schedule's action starts (each run's id is it plus the run's time)."""
    return f"{SCHEDULE_RUN_PREFIX}{schedule_id}"
