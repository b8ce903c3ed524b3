"""`cape workspaces sweep`: archive and delete finished tasks' workspaces on this host now."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from cape.logs import configure_logging
from cli.processes import load_settings
from cli.terminal import echo


@click.group()
def workspaces() -> None:
    """Manage this host's task workspaces."""


@workspaces.command()
@click.option("--data-dir", type=click.Path(path_type=Path), help="Overrides CAPE_DATA_DIR.")
@click.option("--retention-hours", type=float, help="Overrides CAPE_WORKSPACE_RETENTION_HOURS.")
def sweep(data_dir: Path | None, retention_hours: float | None) -> None:
    """Archive workspaces of tasks finished longer ago than the retention, then delete them."""
    from cape.artifacts import ArtifactStore
    from cape.db.engine import create_engine, session_factory
    from worker.retention import sweep_workspaces

    settings = load_settings(data_dir, workspace_retention_hours=retention_hours)
    configure_logging(settings)

    async def run() -> None:
        engine = create_engine(settings)
        try:
            sessions = session_factory(engine)
            store = ArtifactStore(sessions, settings.artifact_root)
            report = await sweep_workspaces(settings, sessions, store)
        finally:
            await engine.dispose()
        echo(f"archived and deleted {len(report.deleted)} workspace(s); kept {report.kept}")
        for task_id in report.deleted:
            echo(f"  {task_id}")

    asyncio.run(run())


COMMANDS = [workspaces]
