"""`cape locks ls|show|release`: the resource locks of your team, through the HTTP API."""

from __future__ import annotations

from typing import Any

import click

from cli.api_client import ApiClient, api_command
from cli.formatting import echo_json, table, when
from cli.terminal import echo


@click.group()
def locks() -> None:
    """List and inspect resource locks; release a lease with its token (admins: its fence)."""


def _holder(lock: dict[str, Any]) -> str:
    return str(lock["holder"]) if lock["holder"] else "-"


@locks.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print the locks as JSON.")
@api_command
def ls(api: ApiClient, as_json: bool) -> None:
    """List your team's locks: holder, lease expiry, last fence, waiters."""
    items = api.request("GET", "/v1/locks")
    if as_json:
        echo_json(items)
        return
    if not items:
        echo("no locks")
        return
    rows = [
        [str(lock["resource"]), _holder(lock), when(lock["lease_expires_at"]),
         str(lock["fence"]), str(len(lock["waiters"]))]
        for lock in items
    ]  # fmt: skip
    for line in table(["RESOURCE", "HOLDER", "LEASE UNTIL", "FENCE", "WAITING"], rows):
        echo(line)


@locks.command("show")
@click.argument("resource")
@click.option("--json", "as_json", is_flag=True, help="Print the lock as JSON.")
@api_command
def show(api: ApiClient, resource: str, as_json: bool) -> None:
    """Show RESOURCE's lock now: holder, lease, fence and the queue in grant order."""
    lock = api.request("GET", f"/v1/locks/{resource}")
    if as_json:
        echo_json(lock)
        return
    echo(f"resource: {lock['resource']}")
    holder = _holder(lock)
    if lock["holder"]:
        holder += f" ({lock['holder_kind']}, {lock['priority']})"
    echo(f"holder:   {holder}")
    echo(f"lease:    {when(lock['lease_expires_at'])}")
    echo(f"fence:    {lock['fence']}")
    echo(f"waiting:  {len(lock['waiters'])}")
    for waiter in lock["waiters"]:
        echo(f"  {waiter['position']}. {waiter['holder']} ({waiter['priority']}) "
             f"until {when(waiter['wait_until'])}")  # fmt: skip


@locks.command("release")
@click.argument("resource")
@click.option("--token", help="The lease's token (from its grant).")
@click.option(
    "--fence", type=int, help="Admins: the fence of the lease in force (from `show`), no token."
)
@click.option("--json", "as_json", is_flag=True, help="Print the released grant as JSON.")
@api_command
def release(
    api: ApiClient, resource: str, token: str | None, fence: int | None, as_json: bool
) -> None:
    """Release RESOURCE's lease of TOKEN (or, as an admin, of FENCE); the next waiter is granted."""
    if (token is None) == (fence is None):
        raise click.UsageError("give exactly one of --token and --fence")
    if token is not None:
        grant = api.request("POST", f"/v1/locks/{resource}/release", body={"token": token})
    else:
        grant = api.request("POST", f"/v1/locks/{resource}/revoke", body={"fence": fence})
    if as_json:
        echo_json(grant)
    else:
        verb = "released" if token is not None else "revoked"
        echo(f"{verb} {resource} (holder {grant['holder']}, fence {grant['fence']})")


COMMANDS = [locks]
