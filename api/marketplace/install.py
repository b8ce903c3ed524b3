"""Installing packages into a team: resolve, accept permissions, register agents, lock.

Everything one install does happens in one transaction: the resolved graph's new packages,
their agents in the team's registry, their install rows and the lockfile. A conflict, a cycle,
a yanked or missing package, a hash or signature that does not verify, or a permission not
accepted refuses the whole install, and nothing of it remains.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.marketplace.agents import installed_name, installed_spec, register
from api.marketplace.schemas import InstallBody, InstallOut, InstallResult
from api.marketplace.sources import Source
from cape.audit import record
from cape.auth import Principal
from cape.db.market_models import Install, PackageVersion
from cape.errors import Conflict, InvalidInput, NotFound
from cape.marketplace.content import hash_parts, key_id, spec_hash, verify
from cape.marketplace.manifest import Manifest
from cape.marketplace.resolver import Candidate, ResolveError, resolve
from cape.marketplace.secrets import missing_secrets
from cape.settings import Settings

log = structlog.get_logger(__name__)
LOCKFILE_VERSION = 1


@dataclass
class Planned:
    """One package version the install adds, with what it asks for."""

    row: PackageVersion
    manifest: Manifest


async def active_installs(session: AsyncSession, team_id: str) -> dict[str, Install]:
    """The team's active installs, by package."""
    rows = await session.scalars(
        select(Install).where(Install.team_id == team_id, Install.active.is_(True))
    )
    return {row.package: row for row in rows}


def _refusal(exc: ResolveError) -> Conflict:
    return Conflict(str(exc), details={"reason": exc.code, "paths": exc.paths})


def verified(row: PackageVersion) -> Manifest:
    """The version's manifest, after its content hash and signature verify (else 409)."""
    digest = hash_parts(row.manifest, row.agents, row.files)
    if digest != row.content_hash:
        raise Conflict(
            f"{row.package} {row.version}: the stored content does not match its hash",
            details={"package": row.package, "reason": "hash_mismatch"},
        )
    signed = bool(row.signature and row.public_key)
    why = verify(row.public_key or "", row.signature or "", digest) if signed else None
    if why is not None:
        raise Conflict(
            f"{row.package} {row.version}: {why}",
            details={"package": row.package, "reason": "bad_signature"},
        )
    return Manifest.model_validate(row.manifest)


async def _plan_range(
    source: Source, body: InstallBody, installed: dict[str, Install]
) -> tuple[str, dict[str, str], dict[str, Candidate]]:
    root = body.package or ""
    catalogue = await source.catalogue()
    if root not in catalogue:
        raise NotFound(f"unknown package {root!r}", details={"package": root})
    try:
        resolution = resolve(
            root, body.version, catalogue, {n: i.version for n, i in installed.items()}
        )
    except ResolveError as exc:
        raise _refusal(exc) from None
    return root, {n: c.version for n, c in resolution.picks.items()}, resolution.picks


def _plan_lockfile(lock: dict[str, Any]) -> tuple[str, dict[str, str], dict[str, str]]:
    def bad(message: str) -> InvalidInput:
        return InvalidInput(
            f"invalid lockfile: {message}", details=[{"field": "body.lockfile", "message": message}]
        )

    if lock.get("lockfile_version") != LOCKFILE_VERSION:
        raise bad(f"lockfile_version must be {LOCKFILE_VERSION}")
    packages = lock.get("packages")
    root = lock.get("root")
    if not isinstance(packages, dict) or not isinstance(root, str) or root not in packages:
        raise bad("needs `root` and `packages` holding it")
    versions, hashes = {}, {}
    for name, entry in packages.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("version"), str):
            raise bad(f"packages.{name} needs a version")
        versions[name] = entry["version"]
        hashes[name] = str(entry.get("content_hash", ""))
    return root, versions, hashes


async def install(
    session: AsyncSession,
    principal: Principal,
    body: InstallBody,
    source: Source,
    settings: Settings,
) -> InstallResult:
    """Install a package (and its dependencies) from `source` into the caller's team.

    Refused whole (nothing of it stays) on any conflict, verification or permission failure.
    """
    if (body.package is None) == (body.lockfile is None):
        raise InvalidInput(
            "send a package or a lockfile",
            details=[
                {
                    "field": "body.package",
                    "message": "give either package (and version) or lockfile",
                }
            ],
        )
    installed = await active_installs(session, principal.team_id)
    hashes: dict[str, str] = {}
    if body.lockfile is not None:
        root, versions, hashes = _plan_lockfile(body.lockfile)
    else:
        root, versions, _ = await _plan_range(source, body, installed)
    if root in installed:
        raise Conflict(
            f"package {root!r} is installed already (version "
            f"{installed[root].version}); update it instead",
            details={"package": root, "version": installed[root].version},
        )
    planned: dict[str, Planned] = {}
    for name, version in versions.items():
        if name in installed:
            if installed[name].version != version:
                raise Conflict(
                    f"{name} {installed[name].version} is installed; this needs {version}",
                    details={"package": name, "reason": "conflict"},
                )
            continue
        row = await source.version(name, version)
        if row.status == "yanked":
            raise Conflict(
                f"{name} {version} was yanked: {row.status_reason}",
                details={"package": name, "reason": "yanked"},
            )
        if hashes and hashes.get(name) != row.content_hash:
            raise Conflict(
                f"{name} {version}: content hash differs from the lockfile's",
                details={"package": name, "reason": "hash_mismatch"},
            )
        planned[name] = Planned(row, verified(row))
    _check_permissions(planned, body.accept_permissions)
    check_secrets([p.manifest for p in planned.values()], settings)
    lock = _lockfile(root, versions, planned, installed, principal.team_id)
    rows = await _apply(session, principal, root, planned, lock, body.accept_permissions)
    record(
        session,
        principal,
        "package.install",
        "package",
        root,
        versions={n: p.row.version for n, p in planned.items()},
    )
    await session.commit()
    log.info("package installed", package=root, packages=len(planned))
    return InstallResult(installed=[install_out(r) for r in rows], lockfile=lock)


def _check_permissions(planned: dict[str, Planned], accepted: list[str]) -> None:
    wanted = sorted({item for p in planned.values() for item in p.manifest.permissions.items()})
    missing = [item for item in wanted if item not in accepted]
    if missing:
        raise InvalidInput(
            f"accept the permissions this install asks for: {', '.join(missing)}",
            details=[
                {"field": "body.accept_permissions", "message": f"missing {item!r}"}
                for item in missing
            ],
        )


def check_secrets(manifests: list[Manifest], settings: Settings) -> None:
    """Refuse (422) secrets the packages declare that the platform cannot give or has not set."""
    problems = missing_secrets([s for m in manifests for s in m.permissions.secrets], settings)
    if problems:
        raise InvalidInput(
            "declared secrets are not available: " + "; ".join(p["message"] for p in problems),
            details=problems,
        )


def _lockfile(
    root: str,
    versions: dict[str, str],
    planned: dict[str, Planned],
    installed: dict[str, Install],
    team_id: str,
) -> dict[str, Any]:
    packages: dict[str, Any] = {}
    for name in sorted(versions):
        if name in planned:
            row, manifest = planned[name].row, planned[name].manifest
            entry = {
                "version": row.version,
                "content_hash": row.content_hash,
                "signed_by": key_id(row.public_key) if row.signature and row.public_key else None,
                "dependencies": {
                    d: versions[d] for d in sorted(manifest.dependencies) if d in versions
                },
                "agents": {
                    spec["name"]: {
                        "installed_as": installed_name(team_id, spec["name"]),
                        "spec_hash": spec_hash(
                            installed_spec(
                                spec, installed_name(team_id, spec["name"]), row.version, manifest
                            )
                        ),
                    }
                    for spec in row.agents
                },
            }
        else:
            entry = installed[name].lockfile["packages"][name]
        packages[name] = entry
    return {"lockfile_version": LOCKFILE_VERSION, "root": root, "packages": packages}


async def _apply(
    session: AsyncSession,
    principal: Principal,
    root: str,
    planned: dict[str, Planned],
    lock: dict[str, Any],
    accepted: list[str],
) -> list[Install]:
    rows = []
    for name, plan in planned.items():
        agents = {}
        for spec in plan.row.agents:
            installed_as = installed_name(principal.team_id, spec["name"])
            data = installed_spec(spec, installed_as, plan.row.version, plan.manifest)
            await register(session, principal, data)
            agents[spec["name"]] = installed_as
        row = Install(
            team_id=principal.team_id,
            package=name,
            version=plan.row.version,
            content_hash=plan.row.content_hash,
            direct=name == root,
            pinned=False,
            active=True,
            agents=agents,
            lockfile=lock,
            installed_by=principal.owner,
            accepted_permissions=[i for i in plan.manifest.permissions.items() if i in accepted],
        )
        session.add(row)
        rows.append(row)
    await session.flush()
    return rows


def install_out(row: Install) -> InstallOut:
    """The API view of an install."""
    return InstallOut(
        package=row.package,
        version=row.version,
        content_hash=row.content_hash,
        direct=row.direct,
        pinned=row.pinned,
        agents=dict(row.agents),
        permissions=list(row.accepted_permissions),
        installed_at=row.installed_at,
        updated_at=row.updated_at,
    )
