"""Admin routes: task rows that disagree with Temporal, listed and repaired."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import PrincipalDep, RuntimeDep
from cape.auth import Principal
from cape.reconciliation import Report
from cape.settings import Settings

router = APIRouter(prefix="/admin", tags=["admin"])


class ReconcileOut(BaseModel):
    """A scan (and, after POST, its repair): what disagrees, and what was done about it."""

    scope: str = Field(description="`owner:<name>` (the caller's tasks) or `all`.")
    rows_checked: int
    workflows_checked: int
    findings: list[dict[str, Any]] = Field(
        description="kind, task_id, owner, row_status, workflow_status, action, reason, "
        "repaired, problem, final_status, error."
    )
    reconciler: dict[str, Any] = Field(description="The API's timer: passes and repair counts.")


def scope_of(principal: Principal, settings: Settings) -> str | None:
    """The owner the caller may see (None: every owner, for the keys of `admin_owners`)."""
    return None if principal.owner in settings.admin_owners else principal.owner


def _out(owner: str | None, report: Report, runtime: RuntimeDep) -> ReconcileOut:
    return ReconcileOut(
        scope="all" if owner is None else f"owner:{owner}",
        rows_checked=report.rows_checked,
        workflows_checked=report.workflows_checked,
        findings=[f.as_dict() for f in report.findings],
        reconciler=runtime.reconciler.status(),
    )


@router.get("/reconcile", response_model=ReconcileOut)
async def list_disagreements(runtime: RuntimeDep, principal: PrincipalDep) -> ReconcileOut:
    """Task rows and workflows that disagree, with the repair each would get.

    Rows without a workflow, open rows whose workflow ended, workflows without a row or whose
    row ended. Only the caller's tasks, unless its owner is in `CAPE_ADMIN_OWNERS`.
    """
    owner = scope_of(principal, runtime.settings)
    return _out(owner, await runtime.reconciler.reconcile.scan(owner), runtime)


@router.post("/reconcile", response_model=ReconcileOut)
async def repair_disagreements(runtime: RuntimeDep, principal: PrincipalDep) -> ReconcileOut:
    """Repair what `GET` lists, in the same scope.

    Starts or fails rows without a workflow, closes rows whose workflow ended, and terminates
    workflows that no open row accounts for.
    """
    owner = scope_of(principal, runtime.settings)
    reconcile = runtime.reconciler.reconcile
    report = await reconcile.scan(owner)
    await reconcile.repair(report.findings, terminate=True)
    return _out(owner, report, runtime)
