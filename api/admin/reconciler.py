"""The API's reconciler: a pass at start and one per interval, counting what it repaired."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError
from temporalio.service import RPCError

from api.admin.reconcile import Reconcile
from api.events.service import resume_pending
from cape.db.models import utcnow
from cape.reconciliation import AUTOMATIC, Report

log = structlog.get_logger(__name__)


class ReconcileLoop:
    """Repairs rows that disagree with Temporal (start, fail, close) on a timer.

    Terminating workflows is never automatic: those findings are counted as `unrepaired` and
    left to `cape doctor --repair` or `POST /v1/admin/reconcile`.
    """

    def __init__(self, reconcile: Reconcile, interval: float) -> None:
        self.reconcile = reconcile
        self.interval = interval  # 0: off
        self.passes = 0
        self.failed_passes = 0
        self.repaired: Counter[str] = Counter()
        self.unrepaired = 0
        self.last_pass: datetime | None = None
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin the passes in the background (the API does not wait for Temporal)."""
        if self.interval > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(), name="reconciler")

    async def stop(self) -> None:
        """Stop the timer (a pass under way is abandoned; the next start repeats it)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_pass(self) -> Report:
        """One scan of every owner's tasks and the automatic repairs; returns the report."""
        report = await self.reconcile.scan()
        automatic = [f for f in report.findings if f.action in AUTOMATIC]
        await self.reconcile.repair(automatic)
        # Events stored whose routing start failed or hung: start it (never twice).
        r = self.reconcile
        resumed = await resume_pending(r.sessions, r.temporal, r.settings)
        if resumed:
            self.repaired["route_event"] += resumed
        self.passes += 1
        self.last_pass = utcnow()
        self.last_error = None
        for found in report.findings:
            if found.repaired:
                self.repaired[str(found.action)] += 1
        self.unrepaired = sum(1 for f in report.findings if not f.repaired)
        if report.findings:
            log.info(
                "reconcile pass",
                rows=report.rows_checked,
                workflows=report.workflows_checked,
                found=len(report.findings),
                repaired=sum(1 for f in report.findings if f.repaired),
                unrepaired=self.unrepaired,
            )
        return report

    async def _run(self) -> None:
        while True:
            try:
                await self.run_pass()
            except (RPCError, RuntimeError, SQLAlchemyError, OSError, TimeoutError) as exc:
                # Temporal or the database is away: the next pass tries again.
                self._failed(exc)
                log.warning("reconcile pass failed", error=self.last_error)
            except Exception as exc:  # the timer must outlive a bug in one pass: log it loudly
                self._failed(exc)
                log.exception("reconcile pass crashed")
            await asyncio.sleep(self.interval)

    def _failed(self, exc: BaseException) -> None:
        self.failed_passes += 1
        self.last_error = f"{type(exc).__name__}: {exc}"

    def status(self) -> dict[str, Any]:
        """The counters, as /readyz and the admin route show them."""
        return {
            "interval_seconds": self.interval,
            "passes": self.passes,
            "failed_passes": self.failed_passes,
            "repaired": dict(self.repaired),
            "repaired_total": sum(self.repaired.values()),
            "unrepaired": self.unrepaired,
            "last_pass": self.last_pass.isoformat() if self.last_pass else None,
            "last_error": self.last_error,
        }
