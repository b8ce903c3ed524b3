"""`cape doctor`: task rows against Temporal's workflows, listed and (with --repair) repaired."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click

from cape.logs import configure_logging
from cape.reconciliation import Report
from cape.settings import Settings
from cli.formatting import echo_json, table
from cli.processes import data_dir_option, load_settings

CONNECT_SECONDS = 10.0


@click.command()
@data_dir_option
@click.option("--repair", is_flag=True, help="Repair what is found (terminates orphan workflows).")
@click.option("--owner", default=None, help="Only this owner's tasks (default: every owner).")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def doctor(data_dir: Path | None, repair: bool, owner: str | None, as_json: bool) -> None:
    """Find task rows and workflows that disagree, both ways.

    Rows queued or running without a workflow (started again, or failed when too old), open
    rows whose workflow ended (given its final status), and workflows without a row or whose
    row ended (terminated, on --repair only). Exits 1 while disagreements remain.
    """
    settings = load_settings(data_dir)
    configure_logging(settings)
    report = asyncio.run(_run(settings, repair, owner))
    left = [f for f in report.findings if not f.repaired]
    if as_json:
        echo_json(
            {
                "rows_checked": report.rows_checked,
                "workflows_checked": report.workflows_checked,
                "findings": [f.as_dict() for f in report.findings],
            }
        )
    else:
        _print(settings, report, repair)
    if left:
        raise SystemExit(1)


async def _run(settings: Settings, repair: bool, owner: str | None) -> Report:
    from temporalio.client import Client
    from temporalio.service import RPCError

    from api.admin.reconcile import Reconcile
    from cape.db.engine import create_engine, readonly_session_factory, session_factory

    try:
        async with asyncio.timeout(CONNECT_SECONDS):
            temporal = await Client.connect(
                settings.temporal_address, namespace=settings.temporal_namespace
            )
    except (RPCError, RuntimeError, TimeoutError) as exc:
        raise click.ClickException(
            f"Temporal at {settings.temporal_address} does not answer ({exc or 'timeout'}); "
            "start it (or `cape dev`) and run `cape doctor` again"
        ) from None
    engine = create_engine(settings)
    try:
        reconcile = Reconcile(
            settings, temporal, session_factory(engine), readonly_session_factory(engine)
        )
        report = await reconcile.scan(owner)
        if repair:
            await reconcile.repair(report.findings, terminate=True)
        return report
    finally:
        await engine.dispose()


def _print(settings: Settings, report: Report, repair: bool) -> None:
    click.echo(
        f"Checked {report.rows_checked} open task rows and {report.workflows_checked} running "
        f"workflows (Temporal {settings.temporal_address}, task queue {settings.task_queue})."
    )
    if not report.findings:
        click.echo("No disagreements.")
        return
    rows = [_row(f.as_dict(), repair) for f in report.findings]
    for line in table(["TASK", "KIND", "ROW", "WORKFLOW", "REPAIR", "REASON"], rows):
        click.echo(line)
    left = sum(1 for f in report.findings if not f.repaired)
    if not repair:
        click.echo(f"{left} disagreements; `cape doctor --repair` repairs them.")
    else:
        click.echo(f"{len(report.findings) - left} repaired, {left} left.")


def _row(found: dict[str, Any], repair: bool) -> list[str]:
    action = str(found["action"])
    if repair and action != "none":
        action += " (done)" if found["repaired"] else f" (failed: {found['problem']})"
    return [
        found["task_id"],
        str(found["kind"]),
        found["row_status"] or "-",
        found["workflow_status"] or "-",
        action,
        found["reason"],
    ]


COMMANDS = [doctor]
