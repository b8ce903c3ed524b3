"""Who sees which tasks' disagreements, and the view of a scan."""

from __future__ import annotations

from api.admin.reconciler import ReconcileLoop
from api.admin.schemas import ReconcileOut
from cape.auth import Principal
from cape.reconciliation import Report
from cape.settings import Settings


def scope_of(principal: Principal, settings: Settings) -> str | None:
    """The team the caller may see (None: every team, for the users in `admin_owners`)."""
    return None if principal.owner in settings.admin_owners else principal.team_id


def reconcile_out(team: str | None, report: Report, reconciler: ReconcileLoop) -> ReconcileOut:
    """The API view of a scan (and its repair) in the caller's scope."""
    return ReconcileOut(
        scope="all" if team is None else f"team:{team}",
        rows_checked=report.rows_checked,
        workflows_checked=report.workflows_checked,
        findings=[f.as_dict() for f in report.findings],
        events_checked=report.events_checked,
        events=[e.as_dict() for e in report.events],
        repaired=report.total - report.left,
        left=report.left,
        reconciler=reconciler.status(),
    )
