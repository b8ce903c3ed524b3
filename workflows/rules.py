"""Pure decisions of AgentTaskWorkflow: failures, budgets, answers (no I/O, deterministic)."""

from __future__ import annotations

import json

from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    RetryState,
    TimeoutError,
    TimeoutType,
)

from activities.types import ModelChoice, Usage
from cape.contracts.failures import Failure
from cape.contracts.records import Budgets, Exceeded, PendingQuestion, TaskError
from workflows.types import AgentTaskInput, InputAnswer

ANSWERS = {"approval": {"approve", "reject", "cancel"}, "budget": {"raise", "cancel"}}


class InputRefused(ApplicationError):
    """An answer the task cannot take: stale, duplicate, or not one of the allowed actions."""


def models(inp: AgentTaskInput) -> list[ModelChoice]:
    """The task's models in the order they are tried: its own, then the fallbacks."""
    return [ModelChoice(inp.provider, inp.model), *inp.fallbacks]


def tool_summary(name: str, arguments: str) -> str:
    """`tool: shell ls -la`: the tool and its main argument, for the Web UI's timeline."""
    try:
        args = json.loads(arguments or "{}")
    except ValueError:
        args = {}
    detail = ""
    if isinstance(args, dict):
        for key in ("command", "path", "url", "query", "repo", "file", "output", "subject"):
            if isinstance(args.get(key), str):
                detail = " ".join(args[key].split())[:60]
                break
    return f"tool: {name} {detail}".rstrip()


def host_lost(err: ActivityError) -> bool:
    """The step was never picked up by its workspace's host."""
    cause = err.cause
    return isinstance(cause, TimeoutError) and cause.type == TimeoutType.SCHEDULE_TO_START


def model_failed(err: ActivityError) -> bool:
    """A model failed for good (unknown, context too long, refused) or kept failing."""
    if isinstance(err.cause, CancelledError):
        return False
    if err.retry_state in (RetryState.MAXIMUM_ATTEMPTS_REACHED, RetryState.TIMEOUT):
        return True
    cause = err.cause
    return isinstance(cause, ApplicationError) and cause.non_retryable


def describe(err: ActivityError, step: str | None) -> TaskError:
    """The task's error object from a failed step."""
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return {"type": cause.type or Failure.UNTYPED, "message": cause.message, "step": step}
    message = str(cause) if cause is not None else str(err)
    return {"type": type(cause or err).__name__, "message": message, "step": step}


def exceeded(limits: Budgets, usage: Usage, llm_turns: int) -> Exceeded | None:
    """The first budget the task has used up, as {exceeded, used, limit}, or None."""
    checks: list[tuple[str, float, float | None]] = [
        ("max_steps", llm_turns, limits.get("max_steps")),
        ("max_tokens", usage.total_tokens, limits.get("max_tokens")),
        ("max_cost", round(usage.cost_usd, 6), limits.get("max_cost")),
    ]
    for name, value, limit in checks:
        if limit is not None and value >= limit:
            return {"exceeded": name, "used": value, "limit": limit}
    return None


def check_answer(
    pending: PendingQuestion | None, answered: bool, answer: InputAnswer, used: dict[str, float]
) -> None:
    """Refuse an answer that does not fit the pending question (the update's validator)."""
    if pending is None:
        raise InputRefused("the task is not waiting for input", type=Failure.NO_PENDING_INPUT)
    if answer.request_id != pending["id"]:
        raise InputRefused(
            f"stale answer: the task waits for {pending['id']!r}, not {answer.request_id!r}",
            type=Failure.STALE_INPUT,
        )
    if answered:
        raise InputRefused(f"{pending['id']!r} was already answered", type=Failure.DUPLICATE_INPUT)
    allowed = ANSWERS[pending["kind"]]
    if answer.action not in allowed:
        raise InputRefused(
            f"action {answer.action!r} does not answer a {pending['kind']} question; "
            f"use one of {', '.join(sorted(allowed))}",
            type=Failure.INVALID_ANSWER,
        )
    if answer.action == "raise":
        _check_raise(answer, used)


def _check_raise(answer: InputAnswer, used: dict[str, float]) -> None:
    raised = {
        "max_steps": answer.max_steps,
        "max_tokens": answer.max_tokens,
        "max_cost": answer.max_cost,
    }
    given = {k: v for k, v in raised.items() if v is not None}
    if not given:
        raise InputRefused(
            "a raise needs a new max_steps, max_tokens or max_cost", type=Failure.INVALID_ANSWER
        )
    for name, value in given.items():
        if value <= used.get(name, 0):
            raise InputRefused(
                f"{name} must be above what the task used ({used.get(name, 0)})",
                type=Failure.INVALID_ANSWER,
            )
