"""`cape agents ...`: the versioned agent registry through the HTTP API."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cli.agent_views import (
    raw_request,
    show_agent,
    show_agent_list,
    show_triggered,
    show_versions,
)
from cli.api_client import ApiClient, CliError, api_command
from cli.formatting import echo_json
from cli.tasks import json_api_options
from cli.terminal import echo

YAML = "application/yaml"
SPEC_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
PUBLISH = click.option("--publish", is_flag=True, help="Publish the version at once.")


@click.group()
def agents() -> None:
    """List, create, publish, deprecate, yank, export and import agent specs."""


def _done(result: dict[str, Any], as_json: bool, message: str) -> None:
    if as_json:
        echo_json(result)
    else:
        echo(message)


def _created(api: ApiClient, path: Path, publish: bool, force_yaml: bool) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    params = {"publish": "true"} if publish else None
    if path.suffix == ".json" and not force_yaml:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise CliError(f"{path} is not JSON: {exc}") from None
        return dict(api.request("POST", "/v1/agents", body=data, params=params))
    response = raw_request(
        api, "POST", "/v1/agents/import", content=text, media_type=YAML, params=params
    )
    return dict(response.json())


def _say_created(created: dict[str, Any], as_json: bool) -> None:
    version = created["version"]
    _done(created, as_json, f"{version['agent']} {version['version']} ({version['status']})")


@agents.command("ls")
@click.option("-q", "--query", "q", default=None, help="Text in name, description, tags, goals.")
@click.option("--tag", default=None, help="Only agents with this tag.")
@click.option("--category", default=None, help="Only agents of this category.")
@click.option("--name", default=None, help="Only agents whose name contains this.")
@click.option("--trigger", default=None, help="Only agents an event of this type starts.")
@click.option("--limit", type=click.IntRange(1, 100), default=100, show_default=True)
@json_api_options("Print the page as JSON.")
def ls(api: ApiClient, as_json: bool, **filters: Any) -> None:
    """List and search the agents you can use."""
    page = api.request("GET", "/v1/agents", params=filters)
    if as_json:
        echo_json(page)
    elif not page["items"]:
        echo("no agents")
    else:
        show_agent_list(page["items"])


@agents.command("show")
@click.argument("name")
@json_api_options("Print the agent as JSON.")
def show(api: ApiClient, name: str, as_json: bool) -> None:
    """Show an agent: owner, default and latest version, and every version."""
    agent = api.request("GET", f"/v1/agents/{name}")
    if as_json:
        echo_json(agent)
    else:
        show_agent(agent)


@agents.command("versions")
@click.argument("name")
@json_api_options("Print the versions as JSON.")
def versions(api: ApiClient, name: str, as_json: bool) -> None:
    """List an agent's versions with their status."""
    found = api.request("GET", f"/v1/agents/{name}/versions")
    if as_json:
        echo_json(found)
    else:
        show_versions(found)


@agents.command("create")
@click.option("-f", "--file", "path", type=SPEC_FILE, required=True, help="Spec (YAML or JSON).")
@PUBLISH
@json_api_options("Print the agent and version as JSON.")
def create(api: ApiClient, path: Path, publish: bool, as_json: bool) -> None:
    """Create an agent (or a new version of yours) from a spec file."""
    _say_created(_created(api, path, publish, force_yaml=False), as_json)


@agents.command("import")
@click.argument("path", metavar="FILE", type=SPEC_FILE)
@PUBLISH
@json_api_options("Print the agent and version as JSON.")
def import_(api: ApiClient, path: Path, publish: bool, as_json: bool) -> None:
    """Import a YAML spec (as `cape agents export` writes it)."""
    _say_created(_created(api, path, publish, force_yaml=True), as_json)


def version_command(name: str, *options: Callable[..., Any]) -> Callable[..., Any]:
    """Declare a `cape agents` command that takes NAME VERSION, `options` and `--json`.

    Args:
        name: The command's name.
        *options: More click options.

    Returns:
        A decorator turning a callback `(api, name, version, ..., as_json)` into the command.
    """

    def decorate(func: Callable[..., None]) -> Callable[..., Any]:
        callback = json_api_options("Print the version as JSON.")(func)
        for option in reversed(options):
            callback = option(callback)
        callback = click.argument("version")(callback)
        callback = click.argument("agent", metavar="NAME")(callback)
        return agents.command(name)(callback)

    return decorate


REASON = click.option("--reason", required=True, help="Why (shown to everyone who uses it).")


@version_command("publish")
def publish(api: ApiClient, agent: str, version: str, as_json: bool) -> None:
    """Publish a draft version (it never changes after this)."""
    row = api.request("POST", f"/v1/agents/{agent}/versions/{version}/publish")
    _done(row, as_json, f"published {agent} {version}")


@version_command("deprecate", REASON, click.option("--successor", help="The version to use."))
def deprecate(
    api: ApiClient, agent: str, version: str, reason: str, successor: str | None, as_json: bool
) -> None:
    """Deprecate a published version: tasks still start on it, with a warning."""
    body = {"reason": reason} | ({"successor": successor} if successor else {})
    row = api.request("POST", f"/v1/agents/{agent}/versions/{version}/deprecate", body=body)
    _done(row, as_json, f"deprecated {agent} {version}")


@version_command("yank", REASON)
def yank(api: ApiClient, agent: str, version: str, reason: str, as_json: bool) -> None:
    """Yank a version: tasks naming it are refused from now on."""
    path = f"/v1/agents/{agent}/versions/{version}/yank"
    row = api.request("POST", path, body={"reason": reason})
    _done(row, as_json, f"yanked {agent} {version}")


@version_command("default")
def default(api: ApiClient, agent: str, version: str, as_json: bool) -> None:
    """Set the version tasks run when they name none."""
    found = api.request("PUT", f"/v1/agents/{agent}/default", body={"version": version})
    _done(found, as_json, f"{agent} default version: {version}")


def _version_or_default(api: ApiClient, agent: str, version: str | None) -> str:
    if version:
        return version
    found = api.request("GET", f"/v1/agents/{agent}")
    chosen = found.get("default_version") or found.get("latest")
    if not chosen:
        raise CliError(f"agent {agent!r} has no published version: name one")
    return str(chosen)


@agents.command("export")
@click.argument("agent", metavar="NAME")
@click.argument("version", required=False)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the YAML to this file (default: stdout).")  # fmt: skip
@api_command
def export(api: ApiClient, agent: str, version: str | None, output: Path | None) -> None:
    """Print (or write) a version's spec as YAML; VERSION defaults to the default version."""
    chosen = _version_or_default(api, agent, version)
    text = raw_request(api, "GET", f"/v1/agents/{agent}/versions/{chosen}/export").text
    if output is None:
        echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        echo(f"wrote {agent} {chosen} to {output}", err=True)


@agents.command("schema")
@click.argument("agent", metavar="NAME")
@click.argument("version", required=False)
@api_command
def schema(api: ApiClient, agent: str, version: str | None) -> None:
    """Print a version's input and output JSON Schemas (as JSON)."""
    chosen = _version_or_default(api, agent, version)
    echo_json(api.request("GET", f"/v1/agents/{agent}/versions/{chosen}/schemas"))


@agents.command("triggers")
@click.argument("event")
@json_api_options("Print the agents as JSON.")
def triggers(api: ApiClient, event: str, as_json: bool) -> None:
    """List the agents an event of type EVENT starts."""
    found = api.request("GET", f"/v1/agents/triggers/{event}")
    if as_json:
        echo_json(found)
    elif not found["items"]:
        echo(f"no agent is triggered by {event}")
    else:
        show_triggered(found)


COMMANDS = [agents]
