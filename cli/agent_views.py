"""How `cape agents ...` prints agents, versions and triggers, and sends raw (YAML) bodies."""

from __future__ import annotations

from typing import Any

import httpx

from cli.api_client import ApiClient, ApiError, CliError, unreachable
from cli.formatting import one_line, table, when
from cli.terminal import echo

DESCRIPTION_CHARS = 50


def show_agent_list(items: list[dict[str, Any]]) -> None:
    """Print agents as a table, one row each.

    Args:
        items: Agents as the API lists them.
    """
    rows = [
        [
            str(a["name"]),
            str(a.get("default_version") or "-"),
            str(a.get("latest") or "-"),
            str(a["owner"]) + (" (built-in)" if a.get("builtin") else ""),
            str(a.get("category") or "-"),
            ",".join(a.get("tags") or []) or "-",
            one_line(str(a.get("description") or ""), DESCRIPTION_CHARS),
        ]
        for a in items
    ]
    headers = ["NAME", "DEFAULT", "LATEST", "OWNER", "CATEGORY", "TAGS", "DESCRIPTION"]
    for line in table(headers, rows):
        echo(line)


def show_versions(versions: list[dict[str, Any]]) -> None:
    """Print versions as a table: status, when published, and why deprecated or yanked.

    Args:
        versions: Version summaries as the API returns them.
    """
    rows = []
    for v in versions:
        note = v.get("status_reason") or ""
        if v.get("successor"):
            note += f" (use {v['successor']})"
        rows.append([str(v["version"]), str(v["status"]), when(v.get("published_at")), note or "-"])
    for line in table(["VERSION", "STATUS", "PUBLISHED", "NOTE"], rows):
        echo(line)


def show_agent(agent: dict[str, Any]) -> None:
    """Print an agent's fields and its versions.

    Args:
        agent: The agent as the API returns it.
    """
    default = str(agent.get("default_version") or "-")
    if agent.get("default_pinned"):
        default += " (set)"
    fields = [
        ("name", agent["name"]),
        ("owner", str(agent["owner"]) + (" (built-in, read-only)" if agent["builtin"] else "")),
        ("category", agent.get("category") or "-"),
        ("tags", ", ".join(agent.get("tags") or []) or "-"),
        ("default", default),
        ("latest", agent.get("latest") or "-"),
        ("about", one_line(str(agent.get("description") or "-"), 200)),
    ]
    for name, value in fields:
        echo(f"{name + ':':<10}{value}")
    echo("versions:")
    show_versions(agent.get("versions") or [])


def show_triggered(result: dict[str, Any]) -> None:
    """Print the agents an event type starts, with their filters.

    Args:
        result: `{"event", "items"}` as the API returns it.
    """
    rows = [
        [str(a["name"]), str(a["version"]), str(a["owner"]),
         "; ".join(str(t.get("filter") or "any") for t in a["triggers"])]
        for a in result["items"]
    ]  # fmt: skip
    for line in table(["NAME", "VERSION", "OWNER", "FILTER"], rows):
        echo(line)


def raw_request(
    api: ApiClient,
    method: str,
    path: str,
    *,
    content: str | None = None,
    media_type: str | None = None,
    params: dict[str, Any] | None = None,
) -> httpx.Response:
    """Send a request whose body or answer is not JSON (YAML import and export).

    Args:
        api: The API client.
        method: HTTP method.
        path: Path under the API URL.
        content: The body text, if any.
        media_type: Its Content-Type.
        params: Query parameters.

    Returns:
        The successful response.

    Raises:
        ApiError: The API answered with an error.
        CliError: The API could not be reached.
    """
    headers = {"Content-Type": media_type} if media_type else None
    try:
        response = api.http.request(method, path, content=content, headers=headers, params=params)
    except httpx.ConnectError:
        raise unreachable(api.url) from None
    except httpx.TransportError as exc:
        raise CliError(f"request to {api.url} failed: {exc}") from None
    if response.status_code >= 400:
        raise ApiError.from_response(response)
    return response
