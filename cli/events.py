"""`cape events ...`: publish events and read the event log through the HTTP API."""

from __future__ import annotations

import json
from typing import Any

import click

from cli.api_client import ApiClient
from cli.formatting import echo_json, one_line, table, when
from cli.tasks import json_api_options
from cli.terminal import echo

PRIORITIES = ["critical", "high", "normal", "low"]
STATUSES = ["pending", "routed", "unhandled", "filtered", "failed"]


def parse_data(text: str | None) -> dict[str, Any]:
    """The `--data` JSON object (a click error naming the option otherwise).

    Args:
        text: The option's value, or None.

    Returns:
        The object ({} without the option).
    """
    if text is None:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--data") from None
    if not isinstance(data, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--data")
    return data


def show_event(event: dict[str, Any]) -> None:
    """Print an event's fields and its routes.

    Args:
        event: The event as the API returns it.
    """
    fields = [
        ("id", event["id"]),
        ("type", event["type"]),
        ("priority", event["priority"]),
        ("status", event["status"] + (f" ({event['reason']})" if event.get("reason") else "")),
        ("source", event.get("source") or "-"),
        ("published", when(event["published_at"])),
        ("data", one_line(json.dumps(event["data"]), 200)),
    ]
    for name, value in fields:
        echo(f"{name + ':':<11}{value}")
    for route in event.get("routes") or []:
        task = route.get("task_id") or "-"
        reason = f"  {route['reason']}" if route.get("reason") else ""
        echo(f"  {route['agent']}@{route['agent_version']}  {route['status']}  {task}{reason}")


@click.group()
def events() -> None:
    """Publish events and list the event log (which agents each event started, and why)."""


@events.command("publish")
@click.argument("event_type", metavar="TYPE")
@click.option("--data", default=None, help="The event's data as a JSON object, e.g. '{\"a\": 1}'.")
@click.option("--priority", type=click.Choice(PRIORITIES), default="normal", show_default=True)
@click.option("--source", default=None, help="Who or what published it.")
@click.option("--dedupe-key", default=None, help="Publishing the same key again is a no-op.")
@json_api_options("Print the event as JSON.")
def publish(
    api: ApiClient,
    event_type: str,
    data: str | None,
    priority: str,
    source: str | None,
    dedupe_key: str | None,
    as_json: bool,
) -> None:
    """Publish an event of TYPE; prints its id (agents whose triggers match start tasks)."""
    body: dict[str, Any] = {"type": event_type, "data": parse_data(data), "priority": priority}
    if source:
        body["source"] = source
    if dedupe_key:
        body["dedupe_key"] = dedupe_key
    event = api.request("POST", "/v1/events", body=body)
    if as_json:
        echo_json(event)
    else:
        echo(f"{event['id']}{' (duplicate)' if event.get('duplicate') else ''}")


@events.command("ls")
@click.option("--type", "event_type", default=None, help="Only events of this type.")
@click.option("--status", type=click.Choice(STATUSES), default=None)
@click.option("--priority", type=click.Choice(PRIORITIES), default=None)
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@json_api_options("Print the page as JSON.")
def ls(
    api: ApiClient,
    event_type: str | None,
    status: str | None,
    priority: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List your team's events, newest first."""
    params: dict[str, Any] = {"limit": limit}
    for name, value in (("type", event_type), ("status", status), ("priority", priority)):
        if value is not None:
            params[name] = value
    page = api.request("GET", "/v1/events", params=params)
    if as_json:
        echo_json(page)
        return
    if not page["items"]:
        echo("no events")
        return
    rows = [
        [e["id"], e["type"], e["priority"], e["status"], when(e["published_at"]),
         one_line(e.get("reason") or "", 50)]
        for e in page["items"]
    ]  # fmt: skip
    for line in table(["ID", "TYPE", "PRIORITY", "STATUS", "PUBLISHED", "REASON"], rows):
        echo(line)


@events.command("show")
@click.argument("event_id", metavar="ID")
@json_api_options("Print the event as JSON.")
def show(api: ApiClient, event_id: str, as_json: bool) -> None:
    """Show an event: its data, status and the agents and tasks it started."""
    event = api.request("GET", f"/v1/events/{event_id}")
    if as_json:
        echo_json(event)
    else:
        show_event(event)


COMMANDS = [events]
