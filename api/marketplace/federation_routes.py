"""What another CapeControl instance reads to install from this marketplace (federation)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ReaderDep, SessionDep
from api.marketplace.browse import content, index
from api.marketplace.schemas import IndexEntry, VersionContent

router = APIRouter(prefix="/marketplace", tags=["marketplace"])


@router.get("/index", response_model=list[IndexEntry])
async def get_index(session: SessionDep, principal: ReaderDep) -> list[IndexEntry]:
    """Every version of every package with its dependencies and status, for resolution."""
    return await index(session)


@router.get("/packages/{package}/versions/{version}/content", response_model=VersionContent)
async def get_content(
    package: str, version: str, session: SessionDep, principal: ReaderDep
) -> VersionContent:
    """One version's manifest, specs, file hashes, content hash and signature.

    The installing instance recomputes the hash and verifies the signature itself.
    """
    return await content(session, package, version)
