"""Events stored but never routed, for the manual repairs (`cape doctor`, `/v1/admin/reconcile`).

The reconciler's timer starts the routing of every event still `pending` after the grace period
(`api.events.service.resume_pending`). The manual paths read the same events
(`pending_events`), list those whose routing workflow does not exist, and start them with the
same `start_routing`. The workflow id is the event id (USE_EXISTING, REJECT_DUPLICATE): a repair
racing the timer or a late original start never routes an event twice.
"""

from __future__ import annotations

import structlog
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.admin.reconcile import Reconcile
from api.events.launch import start_routing
from api.events.service import pending_events
from cape.db.models import utcnow
from cape.reconciliation import EventFinding, Report

log = structlog.get_logger(__name__)


async def scan(
    reconcile: Reconcile, *, owner: str | None = None, team: str | None = None
) -> Report:
    """The task scan of `Reconcile.scan` plus the pending events without a routing workflow.

    `owner` limits the events to that publisher's, `team` to that team's.
    """
    report = await reconcile.scan(owner, team)
    pending = await pending_events(
        reconcile.reads, reconcile.settings, team=team, published_by=owner
    )
    now = utcnow()
    report.events_checked = len(pending)
    for event in pending:
        if await _routing_exists(reconcile.temporal, event.id):
            continue  # routing under way (or ran): the workflow records the event's outcome
        published = event.published_at  # SQLite hands back naive datetimes; all are UTC
        if published.tzinfo is None:
            published = published.replace(tzinfo=now.tzinfo)
        age = (now - published).total_seconds()
        report.events.append(
            EventFinding(
                event_id=event.id, team_id=event.team_id, published_by=event.published_by,
                type=event.type, priority=event.priority, age_seconds=round(age, 1),
            )
        )  # fmt: skip
    return report


async def repair(reconcile: Reconcile, report: Report) -> None:
    """Repair every finding of `report`: the tasks' (terminating too), then start the events'."""
    await reconcile.repair(report.findings, terminate=True)
    for found in report.events:
        try:
            await start_routing(
                reconcile.temporal, reconcile.settings, found.event_id, found.priority
            )
        except (RPCError, RuntimeError) as exc:
            found.problem = str(exc)
            log.warning("event routing repair failed", event_id=found.event_id, error=str(exc))
            continue
        found.repaired = True
        log.warning("reconciler started an event's routing", event_id=found.event_id)


async def _routing_exists(temporal: Client, event_id: str) -> bool:
    try:
        await temporal.get_workflow_handle(event_id).describe()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        return False
    return True
