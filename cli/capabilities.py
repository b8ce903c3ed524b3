"""`cape capabilities`: what tasks may name instead of an agent, with its agents and records."""

from __future__ import annotations

from typing import Any

import click

from cli.api_client import ApiClient, api_command
from cli.formatting import echo_json, table
from cli.terminal import echo


def _rate(agent: dict[str, Any]) -> str:
    rate = agent["success_rate"]
    return "-" if rate is None else f"{rate:.0%} of {agent['runs']}"


def _load(agent: dict[str, Any]) -> str:
    cap = agent["max_concurrent"]
    state = "available" if agent["available"] else "busy"
    return f"{state} ({agent['running']}/{cap if cap is not None else '-'})"


def _cost(agent: dict[str, Any]) -> str:
    cost = agent["mean_cost_usd"]
    return "-" if cost is None else f"${cost:.4f}"


@click.command("capabilities")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the capabilities as JSON.")
@api_command
def capabilities(api: ApiClient, name: str | None, as_json: bool) -> None:
    """List your team's capabilities (or NAME's): agents in the assigner's order and records.

    Start a task by capability with `cape run --capability NAME [--complexity N]`.
    """
    found = (
        [api.request("GET", f"/v1/capabilities/{name}")]
        if name
        else api.request("GET", "/v1/capabilities")["items"]
    )
    if as_json:
        echo_json(found if not name else found[0])
        return
    if not found:
        echo("no capabilities (agent specs declare them with `capabilities:`)")
        return
    rows = [
        [str(cap["name"]), str(agent["rank"]), f"{agent['agent']}@{agent['version']}",
         f"{agent['complexity_min']}-{agent['complexity_max']}", _load(agent), _rate(agent),
         _cost(agent)]
        for cap in found
        for agent in cap["agents"]
    ]  # fmt: skip
    headers = ["CAPABILITY", "RANK", "AGENT", "COMPLEXITY", "LOAD", "SUCCEEDED", "MEAN COST"]
    for line in table(headers, rows):
        echo(line)


COMMANDS = [capabilities]
