"""How `cape tasks ls` and `cape tasks show` print tasks and steps."""

from __future__ import annotations

from typing import Any

from cli.formatting import duration, error_text, one_line, table, total_tokens, when
from cli.terminal import echo, json_text

PROMPT_CHARS = 40


def _prompt(task: dict[str, Any]) -> str:
    data = task.get("input") or {}
    text = data.get("title") or data.get("prompt") or ""
    return one_line(str(text), PROMPT_CHARS)


def show_task_list(items: list[dict[str, Any]]) -> None:
    """Print tasks as a table, one row each.

    Args:
        items: Tasks as the API returns them.
    """
    rows = [
        [
            str(t["id"]),
            str(t["status"]),
            str(t["agent"]),
            str(t.get("model") or "-"),
            when(t.get("created_at")),
            str(total_tokens(t.get("usage")) or "-"),
            _prompt(t),
        ]
        for t in items
    ]
    headers = ["ID", "STATUS", "AGENT", "MODEL", "CREATED", "TOKENS", "PROMPT"]
    for line in table(headers, rows):
        echo(line)


def show_task(task: dict[str, Any]) -> None:
    """Print a task's fields, answer and error, one per line.

    Args:
        task: The task as the API returns it.
    """
    usage = task.get("usage") or {}
    fields = [
        ("id", task["id"]),
        ("status", task["status"]),
        ("agent", f"{task['agent']} (version {task.get('agent_version', '-')})"),
        ("model", f"{task.get('model')}, max {task.get('max_steps')} steps"),
        ("created", when(task.get("created_at"))),
        ("started", when(task.get("started_at"))),
        (
            "finished",
            f"{when(task.get('finished_at'))} "
            f"(took {duration(task.get('started_at'), task.get('finished_at'))})"
            if task.get("finished_at")
            else "-",
        ),
        (
            "tokens",
            f"{usage.get('total_tokens', 0)} (prompt {usage.get('prompt_tokens', 0)}, "
            f"completion {usage.get('completion_tokens', 0)})",
        ),
        ("prompt", one_line(str((task.get("input") or {}).get("prompt", "")), 200)),
    ]
    if trace_id := task.get("trace_id"):
        # The trace UI's page when the server has a template, else the id to search for.
        fields.append(("trace", (task.get("links") or {}).get("trace") or trace_id))
    if live := task.get("live"):
        current = live.get("current_step") or "-"
        fields.append(
            ("now", f"{current} (step {live.get('steps')}, {live.get('llm_turns')} turns)")
        )
    for name, value in fields:
        echo(f"{name + ':':<10}{value}")
    output = task.get("output")
    if isinstance(output, dict) and output.get("answer"):
        echo("answer:")
        for line in str(output["answer"]).splitlines():
            echo(f"  {line}")
    elif output:
        echo(f"output:   {json_text(output, compact=True)}")
    if task.get("error"):
        echo(f"error:    {error_text(task['error'])}")


def show_steps(steps: list[dict[str, Any]]) -> None:
    """Print a task's steps as an indented table, with each failed step's error.

    Args:
        steps: The steps as the API returns them.
    """
    if not steps:
        echo("steps: none yet")
        return
    echo("steps:")
    rows = [
        [
            str(s["step_no"]),
            str(s["name"]),
            str(s["kind"]),
            str(s["status"]),
            str(s.get("attempt", "-")),
            duration(s.get("started_at"), s.get("finished_at")),
            str(total_tokens(s.get("usage")) or "-"),
        ]
        for s in steps
    ]
    headers = ["#", "NAME", "KIND", "STATUS", "ATTEMPT", "TIME", "TOKENS"]
    lines = table(headers, rows)
    echo(f"  {lines[0]}")
    for step, line in zip(steps, lines[1:], strict=True):
        echo(f"  {line}")
        if step.get("error"):
            echo(f"      error: {one_line(error_text(step['error']), 200)}")
