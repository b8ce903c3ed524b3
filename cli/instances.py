"""`cape instances ls|start|show|history|pause|resume|stop|recover`: agent runtime instances."""

from __future__ import annotations

import json
from typing import Any

import click

from cli.api_client import ApiClient, api_command
from cli.formatting import echo_json, table, when
from cli.terminal import echo


@click.group()
def instances() -> None:
    """Long-lived agents that run one task per event they subscribe to."""


def _value(text: str) -> Any:
    """A filter value: JSON when it parses (numbers, true, lists), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _filters(pairs: tuple[str, ...]) -> dict[str, Any] | None:
    found = {}
    for pair in pairs:
        path, sep, value = pair.partition("=")
        if not sep or not path:
            raise click.BadParameter(f"{pair!r} is not PATH=VALUE", param_hint="--filter")
        found[path] = _value(value)
    return found or None


def _counts(item: dict[str, Any]) -> str:
    c = item["counters"]
    return f"{c['succeeded']} ok / {c['failed']} failed / {c['received']} received"


@instances.command("ls")
@click.option("--state", type=click.Choice(["idle", "running", "paused", "error", "stopped"]))
@click.option("--json", "as_json", is_flag=True, help="Print the instances as JSON.")
@api_command
def ls(api: ApiClient, state: str | None, as_json: bool) -> None:
    """List your team's instances: state, agent, inbox, counts."""
    params = {"limit": 100, **({"state": state} if state else {})}
    items = api.request("GET", "/v1/instances", params=params)["items"]
    if as_json:
        echo_json(items)
        return
    if not items:
        echo("no instances")
        return
    rows = [
        [i["id"], i["name"], i["state"], f"{i['agent']}@{i['agent_version'] or 'default'}",
         str(i["inbox_length"]), _counts(i)]
        for i in items
    ]  # fmt: skip
    for line in table(["ID", "NAME", "STATE", "AGENT", "INBOX", "TASKS"], rows):
        echo(line)


@instances.command("start")
@click.argument("name")
@click.option("--agent", required=True, help="The agent to run.")
@click.option("--version", "version", help="A version or range (`^1.2`); default: the default.")
@click.option("--on", "events", multiple=True, required=True,
              help="An event type to subscribe to (`*` a wildcard); repeatable.")  # fmt: skip
@click.option("--filter", "filters", multiple=True, help="PATH=VALUE on the event's data.")
@click.option("--prompt", help="The task's prompt, a template over `event`.")
@click.option("--input", "input_json", help="The tasks' input defaults, as JSON.")
@click.option("--model", help="The tasks' model (default: the agent's).")
@click.option("--max-concurrent", type=int, default=1, show_default=True)
@click.option("--failure-limit", type=int, help="Failed tasks in a row before `error`.")
@click.option("--json", "as_json", is_flag=True, help="Print the instance as JSON.")
@api_command
def start(
    api: ApiClient, name: str, agent: str, version: str | None, events: tuple[str, ...],
    filters: tuple[str, ...], prompt: str | None, input_json: str | None, model: str | None,
    max_concurrent: int,
    failure_limit: int | None, as_json: bool,
) -> None:  # fmt: skip
    """Create the instance NAME of an agent, subscribed to the `--on` event types."""
    try:
        defaults = json.loads(input_json) if input_json else {}
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--input") from None
    mapping = {"prompt": prompt} if prompt else None
    subs = [{"event": e, "filter": _filters(filters), "input": mapping} for e in events]
    body = {
        "name": name, "agent": agent, "agent_version": version, "subscriptions": subs,
        "max_concurrent": max_concurrent, "failure_limit": failure_limit, "input": defaults,
        "model": model,
    }  # fmt: skip
    made = api.request("POST", "/v1/instances", body=body)
    if as_json:
        echo_json(made)
    else:
        echo(f"started {made['id']} ({made['name']}: {made['agent']}, {made['state']})")


@instances.command("show")
@click.argument("instance_id")
@click.option("--json", "as_json", is_flag=True, help="Print the instance as JSON.")
@api_command
def show(api: ApiClient, instance_id: str, as_json: bool) -> None:
    """Show INSTANCE_ID now: state, counters, current tasks, inbox, last error."""
    item = api.request("GET", f"/v1/instances/{instance_id}")
    if as_json:
        echo_json(item)
        return
    echo(f"instance: {item['id']} ({item['name']})")
    echo(f"state:    {item['state']}")
    echo(f"agent:    {item['agent']}@{item['agent_version'] or 'default'} "
         f"(last ran {item['current_version'] or '-'})")  # fmt: skip
    echo(f"events:   {', '.join(s['event'] for s in item['subscriptions'])}")
    echo(f"tasks:    {_counts(item)}, at most {item['max_concurrent']} at once")
    echo(f"inbox:    {item['inbox_length']}")
    for task in item["current_tasks"]:
        echo(f"  running {task['task_id']} for {task['event_id']} since {when(task['started_at'])}")
    if item["last_error"]:
        echo(f"error:    {item['last_error']}")


@instances.command("history")
@click.argument("instance_id")
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the entries as JSON.")
@api_command
def history(api: ApiClient, instance_id: str, limit: int, as_json: bool) -> None:
    """The events INSTANCE_ID handled, newest first: task, outcome, duration."""
    page = api.request("GET", f"/v1/instances/{instance_id}/history", params={"limit": limit})
    if as_json:
        echo_json(page["items"])
        return
    rows = [
        [h["event_id"], h["task_id"] or "-", h["outcome"], h["agent_version"] or "-",
         "-" if h["duration_seconds"] is None else f"{h['duration_seconds']:.1f}s"]
        for h in page["items"]
    ]  # fmt: skip
    for line in table(["EVENT", "TASK", "OUTCOME", "VERSION", "TOOK"], rows):
        echo(line)


def _control(action: str, doc: str) -> click.Command:
    @click.argument("instance_id")
    @click.option("--json", "as_json", is_flag=True, help="Print the instance as JSON.")
    @api_command
    def command(api: ApiClient, instance_id: str, as_json: bool, **extra: Any) -> None:
        params = {"cancel": "true"} if extra.get("cancel") else None
        item = api.request("POST", f"/v1/instances/{instance_id}/{action}", params=params)
        if as_json:
            echo_json(item)
        else:
            echo(f"{instance_id}: {item['state']}")

    command.__doc__ = doc
    if action == "stop":
        command = click.option("--cancel", is_flag=True, help="Cancel the running tasks too.")(
            command
        )
    return instances.command(action)(command)


_control("pause", "Pause INSTANCE_ID: events queue in its inbox, nothing new starts.")
_control("resume", "Resume INSTANCE_ID: its inbox runs again, in order.")
_control("stop", "Stop INSTANCE_ID for good (running tasks finish unless --cancel).")
_control("recover", "Take INSTANCE_ID out of `error`: its inbox runs again.")

COMMANDS = [instances]
