"""`cape tasks pause|resume|retry|rerun|fork`: operating tasks that already started."""

from __future__ import annotations

import json
from typing import Any

import click

from cli.api_client import ApiClient
from cli.formatting import echo_json
from cli.tasks import task_command
from cli.terminal import echo

NOTE = click.option("--note", default="", help="Why (kept in the task's events).")


def _report(task: dict[str, Any], as_json: bool, text: str) -> None:
    if as_json:
        echo_json(task)
    else:
        echo(text)


@task_command("Print the task as JSON.", NOTE)
def pause(api: ApiClient, task_id: str, note: str, as_json: bool) -> None:
    """Pause a task at its next step boundary (the running step finishes first)."""
    task = api.request("POST", f"/v1/tasks/{task_id}/pause", body={"note": note})
    _report(task, as_json, f"pause requested for {task_id}")


@task_command("Print the task as JSON.", NOTE)
def resume(api: ApiClient, task_id: str, note: str, as_json: bool) -> None:
    """Let a paused task carry on."""
    task = api.request("POST", f"/v1/tasks/{task_id}/resume", body={"note": note})
    _report(task, as_json, f"resume requested for {task_id}")


@task_command("Print the task as JSON.")
def retry(api: ApiClient, task_id: str, as_json: bool) -> None:
    """Run a failed task again from its failed step; finished steps are not run again."""
    task = api.request("POST", f"/v1/tasks/{task_id}/retry")
    _report(task, as_json, f"{task_id} retried from its failed step (status: {task['status']})")


@task_command(
    "Print the new task as JSON.",
    click.option("--model", default=None, help="Another model for the new task."),
    click.option("--max-steps", type=click.IntRange(1, 200), default=None),
)
def rerun(
    api: ApiClient, task_id: str, model: str | None, max_steps: int | None, as_json: bool
) -> None:
    """Start a new task with the same agent and input, linked to this one."""
    body = {k: v for k, v in {"model": model, "max_steps": max_steps}.items() if v is not None}
    task = api.request("POST", f"/v1/tasks/{task_id}/rerun", body=body)
    _report(task, as_json, task["id"])


@task_command(
    "Print the new task as JSON.",
    click.option("--step", type=int, required=True, help="The parent's LLM step to fork at."),
    click.option("--set", "sets", multiple=True, help="Input patch KEY=VALUE (JSON or text)."),
    click.option("--model", default=None, help="Another model for the fork."),
)
def fork(
    api: ApiClient,
    task_id: str,
    step: int,
    sets: tuple[str, ...],
    model: str | None,
    as_json: bool,
) -> None:
    """Fork a task at LLM step --step: earlier steps are reused, the rest runs anew."""
    patch: dict[str, Any] = {}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--set")
        try:
            patch[key] = json.loads(value)
        except json.JSONDecodeError:
            patch[key] = value
    body: dict[str, Any] = {"step": step, "input_patch": patch}
    if model:
        body["model"] = model
    task = api.request("POST", f"/v1/tasks/{task_id}/fork", body=body)
    _report(task, as_json, task["id"])


COMMANDS: list[click.Command] = []  # they are added to the `cape tasks` group on import
