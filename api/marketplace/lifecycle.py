"""An installed package's life in a team: list, update, pin and uninstall.

Update moves a package (and the dependencies that must move with it) to the newest version its
range allows, showing the permissions added and dropped; added ones must be accepted. A pinned
install never updates. Uninstall is refused while another installed package depends on it, and
removes the dependencies nothing else needs; the team's lockfile is rebuilt from what remains.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.marketplace.agents import installed_name, installed_spec, register, remove
from api.marketplace.install import (
    LOCKFILE_VERSION,
    Planned,
    active_installs,
    check_secrets,
    install_out,
    verified,
)
from api.marketplace.schemas import InstallOut, InstallResult, UpdateBody
from api.marketplace.sources import Source
from cape.audit import record
from cape.auth import Principal
from cape.db.market_models import Install
from cape.db.models import utcnow
from cape.errors import Conflict, InvalidInput, NotFound
from cape.marketplace.content import key_id, spec_hash
from cape.marketplace.resolver import Candidate, ResolveError, resolve
from cape.settings import Settings


def _not_installed(package: str) -> NotFound:
    return NotFound(
        f"package {package!r} is not installed in your team", details={"package": package}
    )


async def list_installs(session: AsyncSession, principal: Principal) -> list[InstallOut]:
    """The team's installed packages, by name."""
    rows = await active_installs(session, principal.team_id)
    return [install_out(rows[name]) for name in sorted(rows)]


async def get_install(session: AsyncSession, principal: Principal, package: str) -> Install:
    """The team's active install of `package` (404 when there is none)."""
    row = (await active_installs(session, principal.team_id)).get(package)
    if row is None:
        raise _not_installed(package)
    return row


def team_lockfile(rows: dict[str, Install]) -> dict[str, Any]:
    """One lockfile of everything the team has installed (`roots`: the direct installs)."""
    packages = {name: row.lockfile["packages"][name] for name, row in sorted(rows.items())}
    roots = sorted(name for name, row in rows.items() if row.direct)
    return {"lockfile_version": LOCKFILE_VERSION, "roots": roots, "packages": packages}


def dependents(rows: dict[str, Install], package: str) -> list[str]:
    """The installed packages that depend on `package`."""
    return sorted(
        name
        for name, row in rows.items()
        if name != package and package in row.lockfile["packages"][name].get("dependencies", {})
    )


async def uninstall(session: AsyncSession, principal: Principal, package: str) -> list[str]:
    """Remove `package` and the dependencies only it needed; the names removed."""
    rows = await active_installs(session, principal.team_id)
    if package not in rows:
        raise _not_installed(package)
    if needed_by := dependents(rows, package):
        raise Conflict(
            f"{package!r} is needed by {', '.join(needed_by)}: uninstall those first",
            details={"package": package, "dependents": needed_by},
        )
    removed = [package]
    queue = [package]
    while queue:
        name = queue.pop()
        row = rows.pop(name)
        row.active, row.uninstalled_at = False, utcnow()
        await remove(session, principal.team_id, list(row.agents.values()))
        for dep in row.lockfile["packages"][name].get("dependencies", {}):
            if dep in rows and not rows[dep].direct and not dependents(rows, dep):
                removed.append(dep)
                queue.append(dep)
    record(session, principal, "package.uninstall", "package", package, removed=removed)
    await session.commit()
    return removed


async def pin(
    session: AsyncSession, principal: Principal, package: str, pinned: bool
) -> InstallOut:
    """Pin (or unpin) the team's install of `package`."""
    row = await get_install(session, principal, package)
    row.pinned = pinned
    record(session, principal, "package.pin", "package", package, pinned=pinned)
    await session.commit()
    return install_out(row)


async def update(
    session: AsyncSession,
    principal: Principal,
    package: str,
    body: UpdateBody,
    source: Source,
    settings: Settings,
) -> InstallResult:
    """Move `package` to the newest version `body.version` allows, with the permission diff."""
    rows = await active_installs(session, principal.team_id)
    if package not in rows:
        raise _not_installed(package)
    if rows[package].pinned:
        raise Conflict(
            f"{package!r} is pinned at {rows[package].version}; unpin it to update",
            details={"package": package, "version": rows[package].version},
        )
    # The package's own dependencies may move with it; everything else stays as installed.
    movable = {package, *rows[package].lockfile["packages"][package].get("dependencies", {})}
    fixed = {
        n: r.version
        for n, r in rows.items()
        if n != package and not (n in movable and not r.direct)
    }
    catalogue = await source.catalogue()
    try:
        resolution = resolve(
            package, body.version, catalogue, fixed, held_ranges(fixed, movable, catalogue)
        )
    except ResolveError as exc:
        raise Conflict(str(exc), details={"reason": exc.code, "paths": exc.paths}) from None
    changed: dict[str, Planned] = {}
    for name, pick in resolution.picks.items():
        if name in rows and rows[name].version == pick.version:
            continue
        row = await source.version(name, pick.version)
        changed[name] = Planned(row, verified(row))
    before = {i for n in changed if n in rows for i in rows[n].accepted_permissions}
    after = {i for p in changed.values() for i in p.manifest.permissions.items()}
    diff = {"added": sorted(after - before), "removed": sorted(before - after)}
    if missing := [i for i in diff["added"] if i not in body.accept_permissions]:
        raise InvalidInput(
            f"accept the permissions the update adds: {', '.join(missing)}",
            details=[
                {"field": "body.accept_permissions", "message": f"missing {i!r}"} for i in missing
            ],
        )
    check_secrets([p.manifest for p in changed.values()], settings)
    versions = {n: c.version for n, c in resolution.picks.items()}
    out = await _move(session, principal, rows, changed, versions)
    record(
        session,
        principal,
        "package.update",
        "package",
        package,
        versions={n: p.row.version for n, p in changed.items()},
    )
    await session.commit()
    return InstallResult(
        installed=[install_out(r) for r in out], lockfile=team_lockfile(rows), permission_diff=diff
    )


def held_ranges(
    fixed: dict[str, str], movable: set[str], catalogue: dict[str, list[Candidate]]
) -> list[tuple[str, str, str]]:
    """The ranges the installs that stay place on the packages an update may move."""
    held = []
    for name, version in fixed.items():
        mine = next((c for c in catalogue.get(name, []) if c.version == version), None)
        for dep, text in (mine.dependencies if mine else {}).items():
            if dep in movable and dep not in fixed:
                held.append((dep, text, f"{name}@{version}"))
    return held


async def _move(
    session: AsyncSession,
    principal: Principal,
    rows: dict[str, Install],
    changed: dict[str, Planned],
    versions: dict[str, str],
) -> list[Install]:
    out = []
    for name, plan in changed.items():
        row = rows.get(name)
        if row is None:
            row = Install(
                team_id=principal.team_id,
                package=name,
                direct=False,
                pinned=False,
                active=True,
                installed_by=principal.owner,
                agents={},
                lockfile={},
            )
            session.add(row)
            rows[name] = row
        agents, hashes = {}, {}
        for spec in plan.row.agents:
            as_name = installed_name(principal.team_id, spec["name"])
            data = installed_spec(spec, as_name, plan.row.version, plan.manifest)
            await register(session, principal, data)
            agents[spec["name"]] = as_name
            hashes[spec["name"]] = {"installed_as": as_name, "spec_hash": spec_hash(data)}
        gone = [a for s, a in (row.agents or {}).items() if s not in agents]
        await remove(session, principal.team_id, gone)
        entry = {
            "version": plan.row.version,
            "content_hash": plan.row.content_hash,
            "signed_by": key_id(plan.row.public_key)
            if plan.row.signature and plan.row.public_key
            else None,
            "dependencies": {
                d: versions[d] for d in sorted(plan.manifest.dependencies) if d in versions
            },
            "agents": hashes,
        }
        row.version, row.content_hash, row.agents = plan.row.version, plan.row.content_hash, agents
        row.accepted_permissions = plan.manifest.permissions.items()
        row.lockfile = {
            "lockfile_version": LOCKFILE_VERSION,
            "root": name,
            "packages": {name: entry},
        }
        out.append(row)
    await session.flush()
    return out
