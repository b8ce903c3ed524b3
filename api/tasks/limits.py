"""A new task's budgets: what it asks for, within its agent version's ceilings."""

from __future__ import annotations

from typing import Any

from api.tasks.schemas import TaskCreate
from cape.registry.spec import Limits
from cape.settings import Settings


def task_limits(
    body: TaskCreate, ceilings: Limits, settings: Settings
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The limits a task runs with, and the problems of asking for more than the agent allows.

    A value the request leaves out is the agent's ceiling; max_steps defaults to the operator's
    `CAPE_MAX_STEPS` when that is lower. timeout_seconds is the agent's alone.
    """
    problems = []
    asked = {"max_steps": body.max_steps, "max_tokens": body.max_tokens, "max_cost": body.max_cost}
    for name, value in asked.items():
        ceiling = getattr(ceilings, name)
        if value is not None and ceiling is not None and value > ceiling:
            problems.append(
                {"field": f"body.{name}", "message": f"above the agent's limit of {ceiling:g}"}
            )
    limits = {
        "max_steps": body.max_steps or min(ceilings.max_steps, settings.max_steps),
        "max_tokens": body.max_tokens or ceilings.max_tokens,
        "max_cost": body.max_cost or ceilings.max_cost,
        "timeout_seconds": ceilings.timeout_seconds,
    }
    return limits, problems
