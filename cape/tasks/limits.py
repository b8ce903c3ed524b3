"""A new task's budgets and warnings: what it asks for, within its agent version's ceilings."""

from __future__ import annotations

from typing import Any

from cape.llm.providers import is_configured, missing_setting, not_configured_message
from cape.registry.spec import AgentSpec, Limits
from cape.settings import Settings


def task_limits(
    asked: dict[str, int | float | None], ceilings: Limits, settings: Settings
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The limits a task runs with, and the problems of asking for more than the agent allows.

    `asked` holds max_steps, max_tokens and max_cost (None: not asked for); problems name them
    as `body.<name>`. A value left out is the agent's ceiling; max_steps defaults to the
    operator's `CAPE_MAX_STEPS` when that is lower. timeout_seconds is the agent's alone.
    """
    problems = []
    for name, value in asked.items():
        ceiling = getattr(ceilings, name)
        if value is not None and ceiling is not None and value > ceiling:
            problems.append(
                {"field": f"body.{name}", "message": f"above the agent's limit of {ceiling:g}"}
            )
    limits = {
        "max_steps": asked.get("max_steps") or min(ceilings.max_steps, settings.max_steps),
        "max_tokens": asked.get("max_tokens") or ceilings.max_tokens,
        "max_cost": asked.get("max_cost") or ceilings.max_cost,
        "timeout_seconds": ceilings.timeout_seconds,
    }
    return limits, problems


def model_warnings(settings: Settings, spec: AgentSpec) -> list[str]:
    """Warnings for a new task whose models' providers lack their key here.

    The worker has settings of its own, so the task starts anyway; without the key there too it
    fails at its first LLM step, naming the setting. An agent that answers from its knowledge
    base when no model is configured (the guide) needs none.
    """
    if spec.knowledge is not None and not is_configured(settings, spec.model.provider):
        return []
    providers = dict.fromkeys(m.provider for m in [spec.model, *spec.model.fallbacks])
    warnings = []
    for name in providers:
        if (missing := missing_setting(settings, name)) is not None:
            message = not_configured_message(name, missing)
            warnings.append(f"{message}; the task fails unless its worker has it")
    return warnings
