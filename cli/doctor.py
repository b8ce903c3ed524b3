"""`cape doctor`: task and event rows against Temporal's workflows, listed and repaired."""

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
@click.option(
    "--owner", default=None, help="Only this owner's tasks and events (default: every owner)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def doctor(data_dir: Path | None, repair: bool, owner: str | None, as_json: bool) -> None:
    """Find task rows and workflows that disagree, both ways.

    Rows queued or running without a workflow (started again, or failed when too old), open
    rows whose workflow ended (given its final status), and workflows without a row or whose
    row ended (terminated, on --repair only); events still pending whose routing workflow was
    never started (routed, never twice). Exits 1 while disagreements remain.
    """
    settings = load_settings(data_dir)
    configure_logging(settings)
    report = asyncio.run(_run(settings, repair, owner))
    if as_json:
        echo_json(
            {
                "rows_checked": report.rows_checked,
                "workflows_checked": report.workflows_checked,
                "findings": [f.as_dict() for f in report.findings],
                "events_checked": report.events_checked,
                "events": [e.as_dict() for e in report.events],
                "repaired": report.total - report.left,
                "left": report.left,
            }
        )
    else:
        _print(settings, report, repair)
    if report.left:
        raise SystemExit(1)


async def _run(settings: Settings, repair: bool, owner: str | None) -> Report:
    from temporalio.client import Client
    from temporalio.service import RPCError

    from api.admin import events
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
        report = await events.scan(reconcile, owner=owner)
        if repair:
            await events.repair(reconcile, report)
        return report
    finally:
        await engine.dispose()


def _print(settings: Settings, report: Report, repair: bool) -> None:
    click.echo(
        f"Checked {report.rows_checked} open task rows and {report.workflows_checked} running "
        f"workflows, {report.events_checked} pending events (Temporal {settings.temporal_address}, "
        f"task queue {settings.task_queue})."
    )
    if not report.total:
        click.echo("No disagreements.")
        return
    if report.findings:
        rows = [_row(f.as_dict(), repair) for f in report.findings]
        for line in table(["TASK", "KIND", "ROW", "WORKFLOW", "REPAIR", "REASON"], rows):
            click.echo(line)
    if report.events:
        rows = [_event_row(e.as_dict(), repair) for e in report.events]
        for line in table(["EVENT", "TEAM", "TYPE", "AGE", "REPAIR", "REASON"], rows):
            click.echo(line)
    if not repair:
        click.echo(f"{report.left} disagreements; `cape doctor --repair` repairs them.")
    else:
        click.echo(f"{report.total - report.left} repaired, {report.left} left.")


def _action(found: dict[str, Any], repair: bool) -> str:
    action = str(found["action"])
    if repair and action != "none":
        action += " (done)" if found["repaired"] else f" (failed: {found['problem']})"
    return action


def _event_row(found: dict[str, Any], repair: bool) -> list[str]:
    age = f"{found['age_seconds']:.0f}s"
    return [
        found["event_id"],
        found["team_id"],
        found["type"],
        age,
        _action(found, repair),
        found["reason"],
    ]


def _row(found: dict[str, Any], repair: bool) -> list[str]:
    action = _action(found, repair)
    return [
        found["task_id"],
        str(found["kind"]),
        found["row_status"] or "-",
        found["workflow_status"] or "-",
        action,
        found["reason"],
    ]


COMMANDS = [doctor]
