"""`cape keys ls|create|revoke`: the API keys of your team, through the HTTP API.

`cape keys create --owner NAME` is the operator's way to the first key: it writes to the app
database directly (no API, no key needed) and makes the team and its owner when missing.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from cli.api_client import ApiClient, api_command
from cli.formatting import echo_json
from cli.processes import data_dir_option
from cli.terminal import echo

SCOPES = ("tasks:read", "tasks:write", "agents:write", "admin")


@click.group()
def keys() -> None:
    """List, create and revoke API keys."""


def _row(key: dict[str, Any]) -> str:
    state = "revoked" if key["revoked_at"] else f"expires {key['expires_at'] or 'never'}"
    return f"{key['id']}  {key['prefix']}…  {key['name']}  {key['user']}  " + (
        f"{','.join(key['scopes'])}  {state}"
    )


@keys.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print the keys as JSON.")
@api_command
def ls(api: ApiClient, as_json: bool) -> None:
    """List your team's keys (prefix, name, user, scopes, expiry; never a secret)."""
    items = api.request("GET", "/v1/keys")
    if as_json:
        echo_json(items)
    elif not items:
        echo("no keys")
    for key in [] if as_json else items:
        echo(_row(key))


@keys.command("create")
@click.option("--name", default="default", show_default=True, help="A label for the key.")
@click.option("--scope", "scopes", multiple=True, type=click.Choice(SCOPES),
              help="A scope (repeat it); default: every scope of your key.")  # fmt: skip
@click.option("--expires-in-days", type=click.IntRange(min=1), default=None, help="Expiry.")
@click.option("--user-id", default=None, help="Issue it to another member of your team.")
@click.option("--owner", default=None,
              help="Operator mode: write user OWNER's key to the database.")  # fmt: skip
@click.option("--team", default=None, help="Operator mode: the team's slug (default: OWNER's).")
@click.option("--json", "as_json", is_flag=True, help="Print the new key as JSON.")
@data_dir_option
@api_command
def create(
    api: ApiClient, name: str, scopes: tuple[str, ...], expires_in_days: int | None,
    user_id: str | None, owner: str | None, team: str | None, as_json: bool,
    data_dir: Path | None,
) -> None:  # fmt: skip
    """Create an API key and print its secret (shown only once).

    With --owner it needs no API: the key (every scope) of user OWNER, an owner of team
    --team (made when missing), is written to the app database of --data-dir.
    """
    if owner is not None:
        from cli.processes import load_settings, register_key

        settings = load_settings(data_dir)
        echo(asyncio.run(register_key(settings, owner=owner, name=name, team=team)))
        return
    body: dict[str, Any] = {"name": name, "scopes": list(scopes) or None, "user_id": user_id}
    if expires_in_days is not None:
        body["expires_at"] = (datetime.now(UTC) + timedelta(days=expires_in_days)).isoformat()
    key = api.request("POST", "/v1/keys", body=body)
    if as_json:
        echo_json(key)
    else:
        echo(key["secret"])
        echo(f"({_row(key)}; the secret is shown only once)", err=True)


@keys.command("revoke")
@click.argument("key_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print the revoked key as JSON.")
@api_command
def revoke(api: ApiClient, key_id: str, as_json: bool) -> None:
    """Revoke a key of your team: the next request made with it is refused."""
    key = api.request("DELETE", f"/v1/keys/{key_id}")
    if as_json:
        echo_json(key)
    else:
        echo(f"revoked {key['id']} ({key['prefix']}…)")


COMMANDS = [keys]
