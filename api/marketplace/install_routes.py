"""Installs of marketplace packages in the caller's team (admins only for changes)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from api.deps import AdminDep, ReaderDep, SessionDep, SettingsDep, WriteSessionDep
from api.marketplace.install import active_installs, install, install_out
from api.marketplace.lifecycle import (
    get_install,
    list_installs,
    pin,
    team_lockfile,
    uninstall,
    update,
)
from api.marketplace.schemas import InstallBody, InstallOut, InstallResult, PinBody, UpdateBody
from api.marketplace.sources import source_of

router = APIRouter(prefix="/marketplace", tags=["marketplace"])


@router.post("/installs", status_code=status.HTTP_201_CREATED, response_model=InstallResult)
async def install_package(
    body: InstallBody, session: WriteSessionDep, settings: SettingsDep, principal: AdminDep
) -> InstallResult:
    """Install a package and its dependencies (or a lockfile's exact versions) in your team.

    Every permission the new packages ask for must be in `accept_permissions`; a conflict
    (both paths named), a cycle, a yanked package or a hash or signature that does not verify
    refuses the whole install.
    """
    return await install(session, principal, body, source_of(settings, session), settings)


@router.get("/installs", response_model=list[InstallOut])
async def get_installs(session: SessionDep, principal: ReaderDep) -> list[InstallOut]:
    """Your team's installed packages."""
    return await list_installs(session, principal)


@router.get("/lockfile", response_model=dict[str, Any])
async def get_lockfile(session: SessionDep, principal: ReaderDep) -> dict[str, Any]:
    """Your team's lockfile: every installed package's exact version, hash and agents."""
    return team_lockfile(await active_installs(session, principal.team_id))


@router.get("/installs/{package}", response_model=InstallOut)
async def get_one(package: str, session: SessionDep, principal: ReaderDep) -> InstallOut:
    """One installed package."""
    return install_out(await get_install(session, principal, package))


@router.post("/installs/{package}/update", response_model=InstallResult)
async def update_package(
    package: str,
    body: UpdateBody,
    session: WriteSessionDep,
    settings: SettingsDep,
    principal: AdminDep,
) -> InstallResult:
    """Update to the newest compatible version; added permissions must be accepted."""
    return await update(session, principal, package, body, source_of(settings, session), settings)


@router.post("/installs/{package}/pin", response_model=InstallOut)
async def pin_package(
    package: str, body: PinBody, session: WriteSessionDep, principal: AdminDep
) -> InstallOut:
    """Pin (or unpin) an install: a pinned package never updates."""
    return await pin(session, principal, package, body.pinned)


@router.delete("/installs/{package}", response_model=list[str])
async def uninstall_package(
    package: str, session: WriteSessionDep, principal: AdminDep
) -> list[str]:
    """Uninstall a package and the dependencies nothing else needs; the packages removed.

    Refused (409) while another installed package depends on it.
    """
    return await uninstall(session, principal, package)
