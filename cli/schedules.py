"""`cape schedules ...`: run an agent on a timetable (cron or interval) through the HTTP API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
import httpx

from cli.api_client import ApiClient, ApiError, CliError, unreachable
from cli.formatting import echo_json, one_line, table, when
from cli.tasks import json_api_options
from cli.terminal import echo
from cli.views import show_task_list

OVERLAPS = ["skip", "buffer_one", "buffer_all", "cancel_other", "terminate_other", "allow_all"]


def every(seconds: int) -> str:
    """An interval in the largest whole unit, e.g. `every 2s`, `every 15m`, `every 1d`.

    Args:
        seconds: The interval.

    Returns:
        The interval as text.
    """
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"every {seconds // size}{unit}"
    return f"every {seconds}s"


def timing_text(spec: dict[str, Any]) -> str:
    """A schedule's timing on one line: its cron or interval, and its time zone.

    Args:
        spec: The schedule's `spec` as the API returns it.

    Returns:
        E.g. `cron "0 9 * * 1-5" (Africa/Johannesburg)` or `every 2s`.
    """
    if spec.get("cron"):
        text = f'cron "{spec["cron"]}"'
    else:
        text = every(int(spec.get("interval_seconds") or 0))
        if spec.get("offset_seconds"):
            text += f" +{spec['offset_seconds']}s"
    return f"{text} ({spec['timezone']})" if spec.get("timezone") else text


def show_schedule_list(items: list[dict[str, Any]]) -> None:
    """Print schedules as a table, one row each.

    Args:
        items: Schedules as the API returns them.
    """
    rows = [
        [
            str(s["id"]),
            str(s["agent"]),
            timing_text(s["spec"]),
            "paused" if s["state"]["paused"] else "active",
            when((s.get("next_run_times") or [None])[0]),
            str(s.get("num_actions", 0)),
            one_line(str(s["input"].get("title") or s["input"].get("prompt") or ""), 40),
        ]
        for s in items
    ]
    headers = ["ID", "AGENT", "WHEN", "STATE", "NEXT RUN", "RUNS", "PROMPT"]
    for line in table(headers, rows):
        echo(line)


def show_schedule(schedule: dict[str, Any]) -> None:
    """Print a schedule's fields, next run times and recent runs.

    Args:
        schedule: The schedule as the API returns it.
    """
    spec, state = schedule["spec"], schedule["state"]
    window = f"{when(spec.get('start_at'))} .. {when(spec.get('end_at'))}"
    fields = [
        ("id", schedule["id"]),
        ("agent", f"{schedule['agent']} (version {schedule.get('agent_version', '-')})"),
        ("model", f"{schedule.get('model')}, max {schedule.get('max_steps')} steps"),
        ("when", timing_text(spec)),
        ("window", window if spec.get("start_at") or spec.get("end_at") else "-"),
        ("overlap", f"{schedule['overlap']}, catch-up {schedule['catchup_window_seconds']}s"),
        ("state", ("paused" if state["paused"] else "active") + f" ({state.get('note') or '-'})"),
        ("runs", str(schedule.get("num_actions", 0))),
        ("prompt", one_line(str(schedule["input"].get("prompt", "")), 200)),
    ]
    for name, value in fields:
        echo(f"{name + ':':<10}{value}")
    echo("next runs:")
    for stamp in schedule.get("next_run_times") or []:
        echo(f"  {when(stamp)}")
    if schedule.get("recent_actions"):
        echo("recent runs:")
        for run in schedule["recent_actions"]:
            echo(f"  {when(run['started_at'])}  {run['task_id']}")


@click.group()
def schedules() -> None:
    """Create, list, pause, trigger and delete schedules of agent tasks."""


def _print(schedule: dict[str, Any], as_json: bool, message: str) -> None:
    if as_json:
        echo_json(schedule)
    else:
        echo(message)


@schedules.command("create")
@click.argument("prompt")
@click.option("--agent", default="assistant", show_default=True, help="Agent to run.")
@click.option("--title", default=None, help="Short title of each task.")
@click.option("--cron", default=None, help='5-field cron, e.g. "0 9 * * 1-5".')
@click.option("--every", "interval", type=click.IntRange(min=1), help="Run every N seconds.")
@click.option("--offset", type=click.IntRange(min=0), default=None, help="Shift of --every runs.")
@click.option("--timezone", default=None, help="IANA time zone of --cron (default UTC).")
@click.option("--start-at", default=None, help="No runs before this ISO time.")
@click.option("--end-at", default=None, help="No runs after this ISO time.")
@click.option("--overlap", type=click.Choice(OVERLAPS), default="skip", show_default=True)
@click.option("--catchup", type=click.IntRange(min=10), default=60, show_default=True,
              help="Seconds a missed run may be late and still run.")  # fmt: skip
@click.option("--model", default=None, help="Model (default: the server's default model).")
@click.option("--max-steps", type=click.IntRange(1, 200), default=None, help="Max LLM turns.")
@click.option("--id", "schedule_id", default=None, help="Schedule id (a-z, 0-9, '-'; max 24).")
@click.option("--paused", is_flag=True, help="Create it paused.")
@click.option("--note", default=None, help="A note shown with the schedule's state.")
@json_api_options("Print the schedule as JSON.")
def create(api: ApiClient, prompt: str, title: str | None, as_json: bool, **options: Any) -> None:
    """Create a schedule that runs PROMPT with --cron or --every; prints its id."""
    task_input: dict[str, Any] = {"prompt": prompt}
    if title:
        task_input["title"] = title
    names = {"interval": "interval_seconds", "offset": "offset_seconds", "schedule_id": "id",
             "catchup": "catchup_window_seconds"}  # fmt: skip
    body: dict[str, Any] = {"input": task_input}
    for name, value in options.items():
        if value is not None and value is not False:
            body[names.get(name, name)] = value
    schedule = api.request("POST", "/v1/schedules", body=body)
    _print(schedule, as_json, str(schedule["id"]))


@schedules.command("ls")
@json_api_options("Print the schedules as JSON.")
def ls(api: ApiClient, as_json: bool) -> None:
    """List your schedules, newest first."""
    items = api.request("GET", "/v1/schedules")["items"]
    if as_json:
        echo_json({"items": items})
    elif not items:
        echo("no schedules")
    else:
        show_schedule_list(items)


def schedule_command(name: str, json_help: str, *options: Callable[..., Any]) -> Callable[..., Any]:
    """Declare a `cape schedules` command that takes a schedule ID, `options` and `--json`.

    Args:
        name: The command's name.
        json_help: The help text of `--json`.
        *options: More click options, listed after ID.

    Returns:
        A decorator turning a callback `(api, schedule_id, ..., as_json)` into the command.
    """

    def decorate(func: Callable[..., None]) -> Callable[..., Any]:
        callback = json_api_options(json_help)(func)
        for option in reversed(options):
            callback = option(callback)
        callback = click.argument("schedule_id", metavar="ID")(callback)
        return schedules.command(name)(callback)

    return decorate


@schedule_command("show", "Print the schedule as JSON.")
def show(api: ApiClient, schedule_id: str, as_json: bool) -> None:
    """Show a schedule: timing, policy, state, next runs and recent runs."""
    schedule = api.request("GET", f"/v1/schedules/{schedule_id}")
    if as_json:
        echo_json(schedule)
    else:
        show_schedule(schedule)


NOTE = click.option("--note", default=None, help="Why (shown with the schedule's state).")


@schedule_command("pause", "Print the schedule as JSON.", NOTE)
def pause(api: ApiClient, schedule_id: str, note: str | None, as_json: bool) -> None:
    """Pause a schedule: no runs until it is unpaused."""
    body = {"note": note} if note else None
    schedule = api.request("POST", f"/v1/schedules/{schedule_id}/pause", body=body)
    _print(schedule, as_json, f"paused {schedule_id}")


@schedule_command("unpause", "Print the schedule as JSON.", NOTE)
def unpause(api: ApiClient, schedule_id: str, note: str | None, as_json: bool) -> None:
    """Resume a paused schedule."""
    body = {"note": note} if note else None
    schedule = api.request("POST", f"/v1/schedules/{schedule_id}/unpause", body=body)
    _print(schedule, as_json, f"unpaused {schedule_id}")


@schedule_command("trigger", "Print the schedule as JSON.")
def trigger(api: ApiClient, schedule_id: str, as_json: bool) -> None:
    """Start a run now (its task appears in `cape schedules tasks ID` within moments)."""
    schedule = api.request("POST", f"/v1/schedules/{schedule_id}/trigger")
    _print(schedule, as_json, f"triggered {schedule_id}")


@schedules.command("rm")
@click.argument("schedule_id", metavar="ID")
@json_api_options("Print {id, deleted} as JSON.")
def rm(api: ApiClient, schedule_id: str, as_json: bool) -> None:
    """Delete a schedule (the tasks it started are kept)."""
    _no_content(api, "DELETE", f"/v1/schedules/{schedule_id}")
    _print({"id": schedule_id, "deleted": True}, as_json, f"deleted {schedule_id}")


def _no_content(api: ApiClient, method: str, path: str) -> None:
    # ApiClient.request expects a JSON answer; a 204 has none.
    try:
        response = api.http.request(method, path)
    except httpx.ConnectError:
        raise unreachable(api.url) from None
    except httpx.TransportError as exc:
        raise CliError(f"request to {api.url} failed: {exc}") from None
    if response.status_code >= 400:
        raise ApiError.from_response(response)


@schedule_command(
    "tasks",
    "Print the page as JSON.",
    click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True),
)
def tasks(api: ApiClient, schedule_id: str, limit: int, as_json: bool) -> None:
    """List the tasks a schedule started, newest first."""
    page = api.request("GET", f"/v1/schedules/{schedule_id}/tasks", params={"limit": limit})
    if as_json:
        echo_json(page)
    elif not page["items"]:
        echo("no tasks yet")
    else:
        show_task_list(page["items"])


COMMANDS = [schedules]
