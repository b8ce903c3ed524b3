"""Admin routes: task and event rows that disagree with Temporal, listed and repaired."""

from __future__ import annotations

from fastapi import APIRouter

from api.admin.events import repair, scan
from api.admin.schemas import ReconcileOut
from api.admin.service import reconcile_out, scope_of
from api.deps import AdminDep, ReaderDep, ReconcilerDep, SettingsDep

router = APIRouter(prefix="/admin", tags=["admin"])


@router.get("/reconcile", response_model=ReconcileOut)
async def list_disagreements(
    reconciler: ReconcilerDep, settings: SettingsDep, principal: ReaderDep
) -> ReconcileOut:
    """Task rows and workflows that disagree, with the repair each would get.

    Rows without a workflow, open rows whose workflow ended, workflows without a row or whose
    row ended, and pending events whose routing workflow was never started (`events`, with
    their age). Only the caller's team's, unless its user is in `CAPE_ADMIN_OWNERS`.
    """
    team = scope_of(principal, settings)
    return reconcile_out(team, await scan(reconciler.reconcile, team=team), reconciler)


@router.post("/reconcile", response_model=ReconcileOut)
async def repair_disagreements(
    reconciler: ReconcilerDep, settings: SettingsDep, principal: AdminDep
) -> ReconcileOut:
    """Repair what `GET` lists, in the same scope.

    Starts or fails rows without a workflow, closes rows whose workflow ended, terminates
    workflows that no open row accounts for, and starts the routing of the listed events
    (never twice: the routing workflow's id is the event id).
    """
    team = scope_of(principal, settings)
    report = await scan(reconciler.reconcile, team=team)
    await repair(reconciler.reconcile, report)
    return reconcile_out(team, report, reconciler)
