"""The vocabulary of reconciling task and event rows with Temporal: disagreements, repairs.

The checks themselves need Temporal and live in `api.admin.reconcile`; `cape doctor` and the admin
route show these records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cape.domain import TaskStatus


@dataclass(frozen=True)
class Outcome:
    """The final status (with error or output) to record, and the workflow run it came from."""

    status: TaskStatus
    run_id: str
    error: dict[str, Any] | None = None
    output: dict[str, Any] | None = None


class Kind(StrEnum):
    """How a row and its workflow disagree."""

    ROW_WITHOUT_WORKFLOW = "row-without-workflow"  # an open row, no workflow at all
    WORKFLOW_ENDED = "workflow-ended"  # an open row, its workflow closed (e.g. terminated)
    WORKFLOW_WITHOUT_ROW = "workflow-without-row"  # a running workflow no row accounts for
    ROW_ENDED = "row-ended"  # a running workflow whose row already ended


class Action(StrEnum):
    """What a repair does."""

    START = "start"  # start the workflow from the row's stored input
    FAIL = "fail"  # mark the row failed: nothing can run it any more
    CLOSE = "close"  # give the row the workflow's final status
    TERMINATE = "terminate"  # stop the workflow (only on an explicit repair)
    NONE = "none"  # report only


AUTOMATIC = frozenset({Action.START, Action.FAIL, Action.CLOSE})


@dataclass
class Finding:
    """One disagreement, what repairing it does, and (after a repair) how that went."""

    kind: Kind
    task_id: str
    owner: str | None
    row_status: str | None
    workflow_status: str | None
    action: Action
    reason: str
    outcome: Outcome | None = None
    repaired: bool = False
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form shown by the admin route and `cape doctor`."""
        data = {k: v for k, v in self.__dict__.items() if k != "outcome"}
        if self.outcome is not None:
            data["final_status"] = str(self.outcome.status)
            data["error"] = self.outcome.error
        return data


@dataclass
class EventFinding:
    """A stored event still `pending` past the grace period whose routing workflow is missing.

    Its repair starts the routing (workflow id = event id, so never twice).
    """

    event_id: str
    team_id: str
    published_by: str
    type: str
    priority: str
    age_seconds: float
    action: str = "route"
    reason: str = "the event is pending but its routing workflow was never started"
    repaired: bool = False
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form shown by the admin route and `cape doctor`."""
        return dict(self.__dict__)


@dataclass
class Report:
    """One scan: the disagreements and how much was compared."""

    findings: list[Finding] = field(default_factory=list)
    rows_checked: int = 0
    workflows_checked: int = 0
    events: list[EventFinding] = field(default_factory=list)
    events_checked: int = 0

    @property
    def left(self) -> int:
        """How many disagreements (tasks and events) are not repaired."""
        return sum(1 for f in self.findings if not f.repaired) + sum(
            1 for e in self.events if not e.repaired
        )

    @property
    def total(self) -> int:
        """How many disagreements (tasks and events) were found."""
        return len(self.findings) + len(self.events)
