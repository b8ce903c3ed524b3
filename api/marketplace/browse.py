"""The catalogue a caller browses: this instance's, or another's when federated.

With `CAPE_MARKETPLACE_URL` set, search, a package's page, categories, trending and reviews are
read from that instance (its answers are validated against the same response models); without
it they come from this database. The index and version content are what another instance reads.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.marketplace.catalogue import (
    Query,
    categories,
    package_view,
    search,
    trending,
    unknown_package,
)
from api.marketplace.reviews import list_reviews
from api.marketplace.schemas import (
    CategoryCount,
    IndexEntry,
    PackageOut,
    PackagePage,
    PackageSummary,
    ReviewOut,
    VersionContent,
)
from api.marketplace.sources import LocalSource, RemoteSource
from cape.db.market_models import PackageVersion
from cape.settings import Settings


def _remote(settings: Settings) -> RemoteSource | None:
    return RemoteSource(settings) if settings.marketplace_url else None


async def browse(
    settings: Settings, session: AsyncSession, query: Query, limit: int, cursor: str | None
) -> PackagePage:
    """One page of the catalogue (`GET /v1/marketplace/packages`)."""
    if (remote := _remote(settings)) is None:
        return await search(session, query, limit, cursor)
    params: dict[str, Any] = {
        "q": query.q, "category": query.category, "tag": query.tag,
        "publisher": query.publisher, "min_rating": query.min_rating,
        "compatible": query.compatible, "sort": query.sort, "limit": limit, "cursor": cursor,
    }  # fmt: skip
    found = await remote.get(
        "/v1/marketplace/packages", {k: v for k, v in params.items() if v is not None}
    )
    return PackagePage.model_validate(found)


async def one_package(settings: Settings, session: AsyncSession, name: str) -> PackageOut:
    """A package's page."""
    if (remote := _remote(settings)) is None:
        return await package_view(session, name)
    return PackageOut.model_validate(await remote.get(f"/v1/marketplace/packages/{name}"))


async def all_categories(settings: Settings, session: AsyncSession) -> list[CategoryCount]:
    """The categories with their counts."""
    if (remote := _remote(settings)) is None:
        return await categories(session)
    found = await remote.get("/v1/marketplace/categories")
    return [CategoryCount.model_validate(item) for item in found]


async def trending_packages(
    settings: Settings, session: AsyncSession, limit: int
) -> list[PackageSummary]:
    """The trending packages."""
    if (remote := _remote(settings)) is None:
        return await trending(session, limit)
    found = await remote.get("/v1/marketplace/trending", {"limit": limit})
    return [PackageSummary.model_validate(item) for item in found]


async def reviews_of(settings: Settings, session: AsyncSession, name: str) -> list[ReviewOut]:
    """A package's reviews."""
    if (remote := _remote(settings)) is None:
        return await list_reviews(session, name)
    found = await remote.get(f"/v1/marketplace/packages/{name}/reviews")
    return [ReviewOut.model_validate(item) for item in found]


async def index(session: AsyncSession) -> list[IndexEntry]:
    """Every version of every package with its dependencies (what another instance resolves)."""
    catalogue = await LocalSource(session).catalogue()
    return [
        IndexEntry(name=c.name, version=c.version, dependencies=c.dependencies,
                   status="yanked" if c.yanked else "published")
        for name in sorted(catalogue)
        for c in catalogue[name]
    ]  # fmt: skip


async def content(session: AsyncSession, name: str, version: str) -> VersionContent:
    """What an install needs of one version (another instance verifies it before use)."""
    row = await session.scalar(
        select(PackageVersion).where(
            PackageVersion.package == name, PackageVersion.version == version
        )
    )
    if row is None:
        raise unknown_package(name)
    return VersionContent(
        package=row.package, version=row.version, status=row.status,
        status_reason=row.status_reason, manifest=row.manifest, agents=row.agents,
        files=row.files, readme=row.readme, content_hash=row.content_hash,
        signature=row.signature, public_key=row.public_key, scan_report=row.scan_report,
        quality=row.quality,
    )  # fmt: skip
