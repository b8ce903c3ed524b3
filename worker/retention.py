"""Workspace retention: archive finished tasks' workspaces as artifacts, then delete them.

Each worker sweeps the workspaces of its own host (they are local directories), every
`workspace_sweep_minutes`; `cape workspaces sweep` runs one sweep by hand. The worker processes
of one host (`cape worker --processes N`) take turns: a sweep runs only in the process that
holds `<data dir>/workspace-sweep.lock`, the others skip that round.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.workspace import tar_workspace
from cape.artifacts import ArtifactStore
from cape.db.models import Task
from cape.domain import TERMINAL_TASK_STATUSES
from cape.events.retention import sweep_events
from cape.filelock import taken
from cape.settings import Settings

log = structlog.get_logger(__name__)
ARCHIVE_NAME = "workspace-archive.tar.gz"
SWEEP_LOCK = "workspace-sweep.lock"


@dataclass
class SweepReport:
    """What one sweep did."""

    archived: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    kept: int = 0


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def sweep_workspaces(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    store: ArtifactStore,
    now: datetime | None = None,
) -> SweepReport:
    """Archive and delete workspaces of tasks that finished longer than the retention ago."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(hours=settings.workspace_retention_hours)
    root = settings.workspace_root
    report = SweepReport()
    # A fresh data dir has no workspaces yet: nothing to sweep is not an error.
    names = await asyncio.to_thread(
        lambda: [p.name for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
    )
    if not names:
        return report
    async with sessions() as session:
        rows = await session.execute(
            select(Task.id, Task.status, Task.finished_at).where(Task.id.in_(names))
        )
        finished = {
            task_id: _aware(at)
            for task_id, status, at in rows
            if status in TERMINAL_TASK_STATUSES and at is not None
        }
    for name in names:
        at = finished.get(name)
        if at is None or at > cutoff:
            report.kept += 1
            continue
        await _archive(store, name, root / name)
        await asyncio.to_thread(shutil.rmtree, root / name, True)
        report.archived.append(name)
        report.deleted.append(name)
        log.info("workspace archived and deleted", task_id=name, finished_at=at.isoformat())
    return report


async def _archive(store: ArtifactStore, task_id: str, path: Path) -> None:
    archive = path.with_name(f".{path.name}.archive.tar.gz")
    try:
        await asyncio.to_thread(tar_workspace, path, archive)
        await store.put(
            task_id, ARCHIVE_NAME, archive, "application/gzip", artifact_id=f"archive-{task_id}"
        )
    finally:
        await asyncio.to_thread(archive.unlink, True)


async def sweep_forever(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], store: ArtifactStore
) -> None:
    """Sweep workspaces and the event log every `workspace_sweep_minutes` until cancelled.

    A failed sweep is logged; the next one tries again.
    """
    interval = settings.workspace_sweep_minutes * 60
    while interval > 0:
        try:
            with taken(settings.data_dir / SWEEP_LOCK) as mine:
                if mine:  # else another worker process of this host sweeps right now
                    await sweep_workspaces(settings, sessions, store)
        except Exception:
            log.exception("workspace sweep failed")
        try:
            if removed := await sweep_events(settings, sessions):
                log.info("events past retention deleted", events=removed)
        except Exception:
            log.exception("event sweep failed")
        await asyncio.sleep(interval)
