"""The workflow's pure decisions, without a server: budgets, answers, failures, summaries."""

from __future__ import annotations

import pytest
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    RetryState,
    TimeoutError,
    TimeoutType,
)

from activities.types import ModelChoice, Usage
from cape.contracts.failures import INPUT_CONFLICTS, Failure
from cape.contracts.records import ApprovalQuestion, BudgetQuestion, Budgets, PendingQuestion
from workflows.bookkeeping import outcome
from workflows.human_input import canceled, raised
from workflows.rules import (
    InputRefused,
    check_answer,
    describe,
    exceeded,
    host_lost,
    model_failed,
    models,
    tool_summary,
)
from workflows.types import AgentTaskInput, InputAnswer

APPROVAL = ApprovalQuestion(
    id="approval-3", kind="approval", step_no=3, tool="shell", call_id="c1", arguments="{}"
)
BUDGET = BudgetQuestion(id="budget-3-1", kind="budget", exceeded="max_steps", used=2, limit=2)
USED = {"max_steps": 2, "max_tokens": 100, "max_cost": 0.5}


def budgets(steps: int = 10, tokens: int | None = None, cost: float | None = None) -> Budgets:
    return Budgets(max_steps=steps, max_tokens=tokens, max_cost=cost)


def activity_error(cause: BaseException, retry_state: RetryState | None = None) -> ActivityError:
    err = ActivityError(
        "activity failed",
        scheduled_event_id=1,
        started_event_id=2,
        identity="worker",
        activity_type="call_llm",
        activity_id="1",
        retry_state=retry_state,
    )
    err.__cause__ = cause
    return err


def test_no_budget_is_used_up_below_every_limit() -> None:
    assert exceeded(budgets(3, 1000, 1.0), Usage(total_tokens=999, cost_usd=0.9), 2) is None
    assert exceeded(budgets(3), Usage(total_tokens=10**9, cost_usd=10.0), 2) is None


def test_the_first_used_up_budget_is_named_with_its_use_and_limit() -> None:
    assert exceeded(budgets(2, 50), Usage(total_tokens=80), 2) == {
        "exceeded": "max_steps",
        "used": 2,
        "limit": 2,
    }
    assert exceeded(budgets(5, 50), Usage(total_tokens=80), 2) == {
        "exceeded": "max_tokens",
        "used": 80,
        "limit": 50,
    }


def test_cost_is_compared_rounded_and_stays_a_float() -> None:
    over = exceeded(budgets(5, None, 0.01), Usage(cost_usd=0.0100000004), 1)
    assert over == {"exceeded": "max_cost", "used": 0.01, "limit": 0.01}
    assert isinstance(over["used"], float)


def test_steps_and_tokens_stay_ints_in_the_question() -> None:
    over = exceeded(budgets(2), Usage(), 2)
    assert over is not None and type(over["used"]) is int and type(over["limit"]) is int


@pytest.mark.parametrize(
    ("pending", "answered", "answer", "failure"),
    [
        (None, False, InputAnswer("approval-3", "approve"), Failure.NO_PENDING_INPUT),
        (APPROVAL, False, InputAnswer("approval-2", "approve"), Failure.STALE_INPUT),
        (APPROVAL, True, InputAnswer("approval-3", "approve"), Failure.DUPLICATE_INPUT),
        (APPROVAL, False, InputAnswer("approval-3", "raise"), Failure.INVALID_ANSWER),
        (BUDGET, False, InputAnswer("budget-3-1", "approve"), Failure.INVALID_ANSWER),
        (BUDGET, False, InputAnswer("budget-3-1", "raise"), Failure.INVALID_ANSWER),
        (BUDGET, False, InputAnswer("budget-3-1", "raise", max_steps=2), Failure.INVALID_ANSWER),
        (BUDGET, False, InputAnswer("budget-3-1", "raise", max_cost=0.5), Failure.INVALID_ANSWER),
    ],
)
def test_an_answer_that_does_not_fit_is_refused_with_its_failure_type(
    pending: PendingQuestion | None, answered: bool, answer: InputAnswer, failure: Failure
) -> None:
    with pytest.raises(InputRefused) as refused:
        check_answer(pending, answered, answer, USED)
    assert refused.value.type == failure
    assert (failure in INPUT_CONFLICTS) == (failure != Failure.INVALID_ANSWER)


@pytest.mark.parametrize(
    ("pending", "answer"),
    [
        (APPROVAL, InputAnswer("approval-3", "approve")),
        (APPROVAL, InputAnswer("approval-3", "reject", reason="no")),
        (APPROVAL, InputAnswer("approval-3", "cancel")),
        (BUDGET, InputAnswer("budget-3-1", "raise", max_steps=3)),
        (BUDGET, InputAnswer("budget-3-1", "raise", max_tokens=101, max_cost=0.6)),
        (BUDGET, InputAnswer("budget-3-1", "cancel")),
    ],
)
def test_an_answer_that_fits_is_taken(pending: PendingQuestion, answer: InputAnswer) -> None:
    check_answer(pending, False, answer, USED)


def test_a_raise_sets_only_the_budgets_it_names() -> None:
    assert raised(InputAnswer("b", "raise", max_tokens=500)) == {"max_tokens": 500}
    assert raised(InputAnswer("b", "raise", max_steps=4, max_cost=1.5)) == {
        "max_steps": 4,
        "max_cost": 1.5,
    }
    assert raised(InputAnswer("b", "cancel", max_steps=4)) == {}


def test_a_cancel_names_who_and_why() -> None:
    error = canceled(InputAnswer("b", "cancel", by="ann", reason="too slow"))
    assert error == {
        "type": Failure.CANCELED_BY_USER,
        "message": "canceled by ann while waiting for input: too slow",
    }
    assert canceled(InputAnswer("b", "cancel"))["message"] == "canceled while waiting for input"


def test_the_task_error_of_a_failed_step_names_type_message_and_step() -> None:
    app = ApplicationError("HTTP 400", type="LLMHttp400", non_retryable=True)
    assert describe(activity_error(app), "llm: m") == {
        "type": "LLMHttp400",
        "message": "HTTP 400",
        "step": "llm: m",
    }
    untyped = describe(activity_error(ApplicationError("boom")), None)
    assert untyped["type"] == Failure.UNTYPED
    timeout = TimeoutError("timed out", type=TimeoutType.START_TO_CLOSE, last_heartbeat_details=[])
    assert describe(activity_error(timeout), "tool: x")["type"] == "TimeoutError"


def test_a_model_fails_for_good_only_when_retrying_cannot_help() -> None:
    permanent = ApplicationError("no such model", type="ModelNotFound", non_retryable=True)
    assert model_failed(activity_error(permanent))
    transient = ApplicationError("429", type="LLMHttp429")
    assert not model_failed(activity_error(transient))
    assert model_failed(activity_error(transient, RetryState.MAXIMUM_ATTEMPTS_REACHED))
    assert not model_failed(activity_error(CancelledError("canceled")))


def test_a_host_is_lost_when_no_worker_started_the_step() -> None:
    never = TimeoutError("", type=TimeoutType.SCHEDULE_TO_START, last_heartbeat_details=[])
    late = TimeoutError("", type=TimeoutType.START_TO_CLOSE, last_heartbeat_details=[])
    assert host_lost(activity_error(never))
    assert not host_lost(activity_error(late))


def test_models_are_tried_own_first_then_fallbacks() -> None:
    inp = AgentTaskInput(
        "t", "a", "1.0.0", "o", "m1", "", [], "", "", 5, provider="p1",
        fallbacks=[ModelChoice("p2", "m2")],
    )  # fmt: skip
    assert models(inp) == [ModelChoice("p1", "m1"), ModelChoice("p2", "m2")]


def test_tool_summary_shows_the_main_argument() -> None:
    assert tool_summary("shell", '{"command": "ls   -la\\n"}') == "tool: shell ls -la"
    assert tool_summary("web_fetch", '{"url": "https://x"}') == "tool: web_fetch https://x"
    assert tool_summary("shell", "not json") == "tool: shell"


def test_the_outcome_line_shows_the_error_or_the_answer() -> None:
    assert outcome(None, {"type": "TaskFailed", "message": "x" * 300}) == "TaskFailed: " + "x" * 200
    assert outcome({"answer": "hi"}, None) == "answered"
    assert outcome(None, None) == "ended"
