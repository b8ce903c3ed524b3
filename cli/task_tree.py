"""`cape tasks tree ID`: the delegation tree a task belongs to (docs/multi-agent.md)."""

from __future__ import annotations

import click

from cli.api_client import ApiClient
from cli.formatting import echo_json
from cli.tasks import task_command
from cli.terminal import echo
from cli.tree_view import tree_lines


@task_command("Print the tree (GET /v1/tasks/{id}/tree) as JSON.")
def tree(api: ApiClient, task_id: str, as_json: bool) -> None:
    """Show the delegation tree of a task: from its root, children under their parent."""
    found = api.request("GET", f"/v1/tasks/{task_id}/tree")
    if as_json:
        echo_json(found)
        return
    for line in tree_lines(found, mark=task_id):
        echo(line)


COMMANDS: list[click.Command] = []  # `tree` is added to the `cape tasks` group on import
