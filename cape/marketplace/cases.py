"""A package's test cases: their outcomes from the tasks they ran as, and the quality they give.

At publish each test case runs as a real task of the publisher's team against the operator's
scripted model (`marketplace_test_model`); the version's report keeps each case with its task
id. A case passes when its task succeeded and the answer contains `expect_contains`; it is
`pending` while the task runs. Pure: the caller reads the task rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cape.domain import TaskStatus

TESTS_STEP = "tests"
# Points the quality score loses when every case fails (in proportion to the failures).
FAILURE_WEIGHT = 30.0


@dataclass(frozen=True)
class TaskResult:
    """What a case needs of its task row."""

    status: str
    output: dict[str, Any] | None
    error: dict[str, Any] | None


def answer_text(output: dict[str, Any] | None) -> str:
    """The final answer as text (a structured output as its JSON)."""
    if not output:
        return ""
    answer = output.get("answer")
    return answer if isinstance(answer, str) else json.dumps(output, sort_keys=True)


def case_outcome(case: dict[str, Any], task: TaskResult | None) -> dict[str, Any]:
    """One case of the report with its outcome: `pending`, `passed` or `failed` and the check."""
    out = {k: case.get(k) for k in ("index", "agent", "input", "expect_contains", "task_id")}
    if case.get("invalid"):
        return {**out, "outcome": "failed", "failed_check": "input", "message": case["invalid"]}
    if task is None:
        return {**out, "outcome": "failed", "failed_check": "task", "message": "no task row"}
    if task.status not in {s.value for s in TaskStatus if s.terminal}:
        return {**out, "outcome": "pending", "status": task.status}
    if task.status != "succeeded":
        why = (task.error or {}).get("message") or task.status
        return {**out, "outcome": "failed", "failed_check": "status",
                "message": f"the task ended {task.status}: {why}"}  # fmt: skip
    expected = str(case.get("expect_contains") or "")
    if expected and expected not in answer_text(task.output):
        return {**out, "outcome": "failed", "failed_check": "expect_contains",
                "message": f"the answer does not contain {expected!r}"}  # fmt: skip
    return {**out, "outcome": "passed"}


def cases_of(report: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The cases the report's `tests` step started (empty when none ran)."""
    for step in report:
        if step.get("step") == TESTS_STEP:
            return list(step.get("cases") or [])
    return []


def with_outcomes(
    report: list[dict[str, Any]], tasks: dict[str, TaskResult], base_quality: float
) -> tuple[list[dict[str, Any]], float, str]:
    """The report with each case's outcome, the quality with the pass rate, and the status.

    The status is `none` (no cases ran), `pending` (a case's task still runs), `passed` or
    `failed`; the quality only counts the pass rate once no case is pending.
    """
    cases = cases_of(report)
    if not cases:
        return report, base_quality, "none"
    outcomes = [case_outcome(c, tasks.get(str(c.get("task_id")))) for c in cases]
    counts = {k: sum(1 for o in outcomes if o["outcome"] == k) for k in ("passed", "failed")}
    pending = len(outcomes) - counts["passed"] - counts["failed"]
    status = "pending" if pending else ("failed" if counts["failed"] else "passed")
    quality = base_quality
    if not pending:
        quality = max(0.0, base_quality - FAILURE_WEIGHT * counts["failed"] / len(outcomes))
    step = {"step": TESTS_STEP, "status": status, "skipped": None, "findings": [],
            "passed": counts["passed"], "failed": counts["failed"], "pending": pending,
            "cases": outcomes}  # fmt: skip
    return [step if s.get("step") == TESTS_STEP else s for s in report], quality, status


def started_step(cases: list[dict[str, Any]], model: str) -> dict[str, Any]:
    """The report's `tests` step as stored at publish: the cases and the tasks they run as."""
    return {"step": TESTS_STEP, "status": "pending", "skipped": None, "findings": [],
            "model": model, "cases": cases}  # fmt: skip


def skipped_step(why: str) -> dict[str, Any]:
    """The `tests` step when the cases do not run (no cases, or no test model configured)."""
    return {"step": TESTS_STEP, "status": "skipped", "skipped": why, "findings": [], "cases": []}
