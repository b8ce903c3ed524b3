"""JSON documents a task keeps: its pending question, error, budgets and model switches.

They are written by the workflow, carried through Temporal payloads (activity inputs, the
`state` query, continue-as-new) and stored in the task's row, where the API reads them; tasks
started by earlier versions hold them too. So they are TypedDicts: the JSON stays exactly what
it was (a key the writer leaves out stays out, where a dataclass would add it as null), Temporal's
JSON converter decodes them key by key, and pydantic validates them where the API reads them.
Field names and meanings never change; add optional keys instead.
"""

from __future__ import annotations

from typing import NotRequired

from typing_extensions import TypedDict


class ApprovalQuestion(TypedDict):
    """`pending_input` while a tool call waits for a person (`approval-{step_no}`)."""

    id: str
    kind: str  # "approval"
    step_no: int
    tool: str
    call_id: str
    arguments: str  # the model's JSON text, as it asked
    expires_at: NotRequired[str]  # ISO 8601; set when the question is asked


class Exceeded(TypedDict):
    """The first budget a task has used up (`workflows.rules.exceeded`)."""

    exceeded: str  # max_steps | max_tokens | max_cost
    # An int for max_steps and max_tokens, a float for max_cost: `int | float` keeps each as
    # written when pydantic reads it back (a `float` would turn 5 into 5.0).
    used: int | float
    limit: int | float


class BudgetQuestion(TypedDict):
    """`pending_input` when a budget is used up (`budget-{step_no}-{n}`): raise it or cancel."""

    id: str
    kind: str  # "budget"
    exceeded: str
    used: int | float
    limit: int | float
    expires_at: NotRequired[str]


# Not a tagged union on purpose: Temporal's converter tries the members in order and
# ApprovalQuestion leaves a budget question's numbers untouched (an int stays an int).
PendingQuestion = ApprovalQuestion | BudgetQuestion


class TaskError(TypedDict):
    """Why a task failed or ended: `tasks.error`, `TaskState.error`, a fallback's reason."""

    type: str  # a `cape.contracts.failures.Failure`, an activity's type, or an exception name
    message: str
    step: NotRequired[str | None]  # the step that failed (a failed step's name)
    pending: NotRequired[PendingQuestion]  # the question that expired (`InputExpired`)


class StepError(TypedDict):
    """Why a step attempt failed: `task_steps.error`, and its step-retrying or step-failed event."""

    type: str
    message: str
    details: NotRequired[object]  # e.g. the fields an input problem names


class Budgets(TypedDict):
    """The budgets in force while the task runs (`TaskState.limits`, kept across runs)."""

    max_steps: int
    max_tokens: int | None
    max_cost: float | None
    deadline: NotRequired[str]  # ISO 8601, when the task has a timeout


class RaisedBudgets(TypedDict, total=False):
    """The budgets a `raise` answer sets; only the ones it names."""

    max_steps: int
    max_tokens: int
    max_cost: float


# `from` is a keyword, so this one is declared the functional way.
Fallback = TypedDict(
    "Fallback",
    {
        "from": str,  # provider/model that failed
        "to": str,  # provider/model tried next
        "reason": TaskError,
        "step": int,  # the last step number before the switch
    },
)
Fallback.__doc__ = "One switch to a fallback model and the failure behind it."
