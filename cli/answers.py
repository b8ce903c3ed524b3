"""`cape tasks answer` (a task in `input_required`) and `cape usage` (tokens and cost)."""

from __future__ import annotations

from typing import Any

import click

from cli.api_client import ApiClient, api_command
from cli.formatting import echo_json
from cli.tasks import task_command
from cli.terminal import echo


@task_command(
    "Print the server's answer as JSON.",
    click.argument("action", type=click.Choice(["approve", "reject", "raise", "cancel"])),
    click.option("--reason", default="", help="Why (a rejection's reason reaches the model)."),
    click.option("--max-steps", type=click.IntRange(min=1), default=None, help="Raised budget."),
    click.option("--max-tokens", type=click.IntRange(min=1), default=None, help="Raised budget."),
    click.option(
        "--max-cost", type=click.FloatRange(min=0, min_open=True), default=None, help="Raised $."
    ),
    click.option("--request-id", default=None, help="Default: the task's pending question."),
)
def answer(
    api: ApiClient,
    task_id: str,
    action: str,
    reason: str,
    max_steps: int | None,
    max_tokens: int | None,
    max_cost: float | None,
    request_id: str | None,
    as_json: bool,
) -> None:
    """Answer what a task in `input_required` waits for: approve, reject, raise or cancel.

    Shows the pending question first; a stale or duplicate answer is refused (exit 1).
    """
    if request_id is None:
        task = api.request("GET", f"/v1/tasks/{task_id}")
        pending = task.get("pending_input")
        if not pending:
            raise click.ClickException(f"task {task_id} waits for nothing ({task['status']})")
        request_id = str(pending["id"])
        if not as_json:
            echo(f"{action} {request_id} ({_describe(pending)})")
    body: dict[str, Any] = {"request_id": request_id, "action": action, "reason": reason}
    raised = {"max_steps": max_steps, "max_tokens": max_tokens, "max_cost": max_cost}
    body.update({k: v for k, v in raised.items() if v is not None})
    result = api.request("POST", f"/v1/tasks/{task_id}/input", body=body)
    if as_json:
        echo_json(result)
    else:
        echo(f"{action} accepted for {task_id}")


def _describe(pending: dict[str, Any]) -> str:
    """The question, whatever the answer: never a verb that could read as the action taken."""
    if pending.get("kind") == "approval":
        call = f"{pending.get('tool')} {pending.get('arguments', '')}"[:300]
        return f"the call {call} waits for approval"
    return f"{pending.get('exceeded')} used {pending.get('used')} of {pending.get('limit')}"


@click.command()
@click.option(
    "--by", "group_by", type=click.Choice(["agent", "model", "day"]), default="agent",
    show_default=True,
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@api_command
def usage(api: ApiClient, group_by: str, as_json: bool) -> None:
    """Tokens and cost of your tasks, by agent, model or day."""
    report = api.request("GET", "/v1/usage", params={"group_by": group_by})
    if as_json:
        echo_json(report)
        return
    echo(f"{group_by:<40} {'tasks':>6} {'tokens':>12} {'cost $':>12}")
    for row in [*report["rows"], report["total"]]:
        line = f"{row['key'][:40]:<40} {row['tasks']:>6} {row['total_tokens']:>12}"
        echo(f"{line} {row['cost_usd']:>12.6f}")


COMMANDS = [usage]
