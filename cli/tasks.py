"""`cape run` and `cape tasks ...`: start, list, inspect, follow, cancel and wait for tasks.

These commands talk to the HTTP API only (never to the database or Temporal), so they work the
same against `cape dev` and a deployed API. The client, the event stream and the views live in
`api_client`, `sse`, `render`, `views` and `formatting`; this module holds the commands.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from cli.api_client import REQUEST_TIMEOUT, ApiClient, api_command
from cli.formatting import echo_json, error_text
from cli.render import follow_task
from cli.terminal import echo
from cli.views import show_steps, show_task, show_task_list

MAX_WAIT_PER_REQUEST = 300.0  # the API's upper bound for `/wait?timeout=`
UPLOAD_TIMEOUT = 600.0  # a create with files may take a while to send
TERMINAL = frozenset({"succeeded", "failed", "canceled", "timed_out", "rejected"})

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _exit_with_status(status: str | None) -> NoReturn:
    """Exit 0 when the task succeeded, else 1."""
    raise click.exceptions.Exit(0 if status == "succeeded" else 1)


def json_api_options(json_help: str) -> Decorator:
    """Add a `--json` flag (passed as `as_json`) and the API options of `api_command`.

    Args:
        json_help: The help text of `--json`.

    Returns:
        A decorator for a command callback that takes the `ApiClient` first.
    """

    def decorate(func: Callable[..., None]) -> Callable[..., Any]:
        return click.option("--json", "as_json", is_flag=True, help=json_help)(api_command(func))

    return decorate


@click.command()
@click.argument("prompt", required=False)
@click.option("--agent", default=None, help="Agent to run (default: assistant).")
@click.option(
    "--capability",
    default=None,
    help="Instead of --agent: a capability; the server assigns one of your team's agents.",
)
@click.option(
    "--complexity",
    type=click.IntRange(1, 10),
    default=None,
    help="With --capability: the task's complexity, 1-10.",
)
@click.option("--agent-version", default=None, help="A version or range (`^1.2`) of the agent.")
@click.option(
    "--input",
    "input_json",
    default=None,
    help='The whole input as JSON (e.g. \'{"query": "...", "format": "steps"}\'); PROMPT is then '
    "optional and, when given, becomes input.prompt.",
)
@click.option("--max-tokens", type=click.IntRange(min=1), default=None, help="Token budget.")
@click.option(
    "--max-cost",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Cost budget in US dollars.",
)
@click.option("--title", default=None, help="Short title of the task.")
@click.option("--model", default=None, help="Model (default: the server's default model).")
@click.option("--max-steps", type=click.IntRange(1, 10_000), default=None, help="Max LLM turns.")
@click.option("--idempotency-key", default=None, help="Repeat-safe key: same key, same task.")
@click.option(
    "--file",
    "files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path),
    help="A file for the task's input/ folder, by its base name (repeatable).",
)
@click.option(
    "--artifact",
    "artifacts",
    multiple=True,
    metavar="ID",
    help="An uploaded artifact of your team for input/, by its name (repeatable).",
)
@click.option("--follow/--no-follow", default=True, help="Stream progress until the task ends.")
@json_api_options("Machine-readable output (JSON / JSONL).")
def run(
    api: ApiClient,
    prompt: str | None,
    agent: str | None,
    capability: str | None,
    complexity: int | None,
    agent_version: str | None,
    input_json: str | None,
    max_tokens: int | None,
    max_cost: float | None,
    title: str | None,
    model: str | None,
    max_steps: int | None,
    idempotency_key: str | None,
    files: tuple[Path, ...],
    artifacts: tuple[str, ...],
    follow: bool,
    as_json: bool,
) -> None:
    """Start a task from PROMPT, print its id, then follow it to the end.

    `--file PATH` uploads a file with the request (multipart); the task finds it as
    `input/<name>` in its workspace before its first step.

    Exits 0 when the task succeeded and 1 when it failed or was canceled. With --no-follow it
    prints only the id (or the task as JSON with --json); with --json and following, the output
    is the task's events as JSONL.

    `--capability NAME [--complexity N]` lets the server choose the agent among your team's
    agents that declare NAME (available ones first, then the best record).
    """
    if capability is not None and agent is not None:
        raise click.UsageError("give either --agent or --capability, not both")
    if complexity is not None and capability is None:
        raise click.UsageError("--complexity goes with --capability")
    task_input = _task_input(prompt, input_json)
    if title:
        task_input["title"] = title
    body: dict[str, Any] = {"input": task_input}
    if capability is None:
        body["agent"] = agent or "assistant"
    optional = {
        "capability": capability,
        "complexity": complexity,
        "agent_version": agent_version,
        "model": model,
        "max_steps": max_steps,
        "max_tokens": max_tokens,
        "max_cost": max_cost,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    if artifacts:
        body["files"] = [{"artifact_id": artifact} for artifact in artifacts]
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    uploads = _uploads(files)
    timeout = UPLOAD_TIMEOUT if uploads else None
    task = api.request(
        "POST", "/v1/tasks", body=body, headers=headers, files=uploads, timeout=timeout
    )
    task_id = str(task["id"])
    for warning in task.get("warnings") or []:  # e.g. a deprecated version, a model without key
        click.echo(f"warning: {warning}", err=True)
    if not follow:
        if as_json:
            echo_json(task)
        else:
            echo(task_id)
        return
    if not as_json:
        echo(f"task {task_id} ({task.get('agent')}, model {task.get('model')})")
    _exit_with_status(follow_task(api, task_id, as_json=as_json))


def _uploads(files: tuple[Path, ...]) -> list[Path]:
    """The files to upload; a symbolic link is refused (the API would not get what it names)."""
    for path in files:
        if path.is_symlink():
            message = f"{path} is a symbolic link; give the file itself"
            raise click.BadParameter(message, param_hint="--file")
    names = [path.name for path in files]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise click.BadParameter(f"two files named {twice[0]!r}", param_hint="--file")
    return list(files)


def _task_input(prompt: str | None, input_json: str | None) -> dict[str, Any]:
    if input_json is None:
        if prompt is None:
            raise click.UsageError("give a PROMPT or --input JSON")
        return {"prompt": prompt}
    try:
        data = json.loads(input_json)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--input") from None
    if not isinstance(data, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--input")
    if prompt is not None:
        data["prompt"] = prompt
    return data


@click.group()
def tasks() -> None:
    """List, inspect, follow, cancel and wait for tasks."""


def task_command(json_help: str, *options: Decorator, name: str | None = None) -> Decorator:
    """Declare a `cape tasks` command that takes a task ID, `options`, `--json` and the API.

    Args:
        json_help: The help text of `--json`.
        *options: More click options, listed between ID and `--json` in this order.
        name: The command's name (default: the callback's name).

    Returns:
        A decorator turning a callback `(api, task_id, ..., as_json)` into the command.
    """

    def decorate(func: Callable[..., None]) -> Callable[..., Any]:
        callback = json_api_options(json_help)(func)
        for option in reversed(options):
            callback = option(callback)
        callback = click.argument("task_id", metavar="ID")(callback)
        return tasks.command(name)(callback)

    return decorate


@tasks.command("ls")
@click.option("--status", default=None, help="Only tasks in this status (e.g. running).")
@click.option("--agent", default=None, help="Only tasks of this agent.")
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@click.option("--all", "fetch_all", is_flag=True, help="Follow pages to list every task.")
@json_api_options("Print the page as JSON.")
def ls(
    api: ApiClient,
    status: str | None,
    agent: str | None,
    limit: int,
    fetch_all: bool,
    as_json: bool,
) -> None:
    """List your tasks, newest first (--limit per page; --all for every page)."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {"status": status, "agent": agent, "limit": limit, "cursor": cursor}
        page = api.request("GET", "/v1/tasks", params=params)
        items.extend(page["items"])
        cursor = page.get("next_cursor")
        if not fetch_all or not cursor:
            break
    if as_json:
        echo_json({"items": items, "next_cursor": cursor})
        return
    if not items:
        echo("no tasks")
        return
    show_task_list(items)
    if cursor:
        echo("(more tasks: use --all, or --limit up to 100)", err=True)


@task_command("Print {task, steps} as JSON.")
def show(api: ApiClient, task_id: str, as_json: bool) -> None:
    """Show a task and its steps."""
    task = api.request("GET", f"/v1/tasks/{task_id}")
    steps = api.request("GET", f"/v1/tasks/{task_id}/steps")
    if as_json:
        echo_json({"task": task, "steps": steps})
        return
    show_task(task)
    show_steps(steps)


@task_command(
    "Print raw event envelopes as JSONL.",
    click.option("--since", type=click.IntRange(min=0), default=0, help="Start after this event."),
    name="follow",
)
def follow_command(api: ApiClient, task_id: str, since: int, as_json: bool) -> None:
    """Stream a task's progress live until it ends (exit 0 if it succeeded, else 1).

    Reconnects with Last-Event-ID when the connection drops.
    """
    _exit_with_status(follow_task(api, task_id, since=since, as_json=as_json))


@task_command("Print the task as JSON.")
def cancel(api: ApiClient, task_id: str, as_json: bool) -> None:
    """Ask a task to stop; it ends as `canceled` once its current step is interrupted."""
    task = api.request("POST", f"/v1/tasks/{task_id}/cancel")
    if as_json:
        echo_json(task)
    else:
        echo(f"cancel requested for {task_id} (status: {task['status']})")


@task_command(
    "Print the task as JSON.",
    click.option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=30.0,
        show_default=True,
        help="Seconds to wait.",
    ),
)
def wait(api: ApiClient, task_id: str, timeout: float, as_json: bool) -> None:
    """Wait for a task to end and print its status and answer.

    Exits 0 if it succeeded, 1 if it ended otherwise, 2 if it was still running at --timeout.
    """
    deadline = time.monotonic() + timeout
    while True:
        remaining = max(deadline - time.monotonic(), 0.1)
        chunk = min(remaining, MAX_WAIT_PER_REQUEST)
        task = api.request(
            "GET",
            f"/v1/tasks/{task_id}/wait",
            params={"timeout": round(chunk, 3)},
            timeout=chunk + REQUEST_TIMEOUT,
        )
        if task["status"] in TERMINAL or time.monotonic() >= deadline:
            break
    if as_json:
        echo_json(task)
    else:
        echo(f"{task_id}: {task['status']}")
        output = task.get("output")
        if isinstance(output, dict) and output.get("answer"):
            echo(str(output["answer"]))
        if task.get("error"):
            echo(f"error: {error_text(task['error'])}")
    if task["status"] not in TERMINAL:
        raise click.exceptions.Exit(2)
    _exit_with_status(str(task["status"]))


COMMANDS = [tasks, run]
