"""Discovery: search, filter, sort and page the catalogue; one package's full view.

Search is full text over name, title, summary, tags and README (name and title count most),
ranked by matched terms; it runs in Python over the catalogue, which is small next to the task
tables. A yanked version is listed with its reason but never picked by an install.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.marketplace.cases import case_tasks
from api.marketplace.schemas import (
    CategoryCount,
    PackageOut,
    PackagePage,
    PackageSummary,
    VersionOut,
)
from api.marketplace.stats import PackageStats, overview, package_stats
from cape.db.market_models import Package, PackageVersion, Review
from cape.errors import InvalidInput, NotFound
from cape.marketplace.cases import TaskResult, with_outcomes
from cape.marketplace.content import key_id
from cape.marketplace.manifest import CATEGORIES
from cape.registry.semver import parse, parse_range, try_parse

SORTS = ("relevance", "installs", "rating", "trending", "newest")
_WORD = re.compile(r"[a-z0-9]+")


@dataclass
class Query:
    """What a listing asks for."""

    q: str | None = None
    category: str | None = None
    tag: str | None = None
    publisher: str | None = None
    min_rating: float | None = None
    compatible: str | None = None
    sort: str = "relevance"


def unknown_package(name: str) -> NotFound:
    """The 404 of a package that does not exist."""
    return NotFound(f"unknown package {name!r}", details={"package": name})


async def ratings(session: AsyncSession) -> dict[str, tuple[float, int]]:
    """Average stars and review count of every reviewed package."""
    rows = await session.execute(
        select(Review.package, func.avg(Review.stars), func.count()).group_by(Review.package)
    )
    return {name: (round(float(avg), 2), int(n)) for name, avg, n in rows}


def _summary(pkg: Package, stats: PackageStats, rating: tuple[float, int] | None) -> PackageSummary:
    return PackageSummary(
        name=pkg.name,
        title=pkg.title,
        summary=pkg.summary,
        category=pkg.category,
        tags=list(pkg.tags),
        publisher=pkg.publisher,
        latest=pkg.latest,
        rating=rating[0] if rating else None,
        reviews=rating[1] if rating else 0,
        installs=stats.installs,
        active_installs=stats.active_installs,
        trending=stats.trending,
        created_at=pkg.created_at,
        updated_at=pkg.updated_at,
    )


def _score(terms: list[str], pkg: Package, readme: str) -> float:
    fields = [
        (pkg.name.replace("-", " "), 4.0),
        (pkg.title, 3.0),
        (" ".join(pkg.tags), 2.0),
        (pkg.summary, 2.0),
        (readme, 1.0),
    ]
    score = 0.0
    for text, weight in fields:
        words = _WORD.findall(text.lower())
        for term in terms:
            hits = sum(1 for w in words if w.startswith(term))
            score += weight * min(hits, 3)
    return score


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode()


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        offset = int(json.loads(base64.urlsafe_b64decode(cursor.encode()))["o"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise InvalidInput(
            "invalid cursor",
            details=[{"field": "query.cursor", "message": "not a cursor this listing gave"}],
        ) from None
    return max(offset, 0)


def _compatible(platform: str, version: str) -> bool:
    return parse_range(platform, "manifest.platform").matches(parse(version, "query.compatible"))


async def search(
    session: AsyncSession, query: Query, limit: int, cursor: str | None
) -> PackagePage:
    """One page of the catalogue, filtered and sorted as `query` asks."""
    if query.sort not in SORTS:
        raise InvalidInput(
            f"sort must be one of {', '.join(SORTS)}",
            details=[{"field": "query.sort", "message": f"one of {SORTS}"}],
        )
    if query.compatible is not None and try_parse(query.compatible) is None:
        raise InvalidInput(
            "compatible must be a version",
            details=[
                {
                    "field": "query.compatible",
                    "message": "a CapeControl version (MAJOR.MINOR.PATCH)",
                }
            ],
        )
    packages = list(await session.scalars(select(Package)))
    latest = {(v.package, v.version): v for v in await session.scalars(select(PackageVersion))}
    stats = await package_stats(session)
    rated = await ratings(session)
    terms = _WORD.findall((query.q or "").lower())
    scored: list[tuple[float, Package]] = []
    for pkg in packages:
        row = latest.get((pkg.name, pkg.latest))
        readme = row.readme if row else ""
        if query.category and pkg.category != query.category:
            continue
        if query.tag and query.tag not in pkg.tags:
            continue
        if query.publisher and pkg.publisher != query.publisher:
            continue
        rating = rated.get(pkg.name)
        if query.min_rating is not None and (rating is None or rating[0] < query.min_rating):
            continue
        if (
            query.compatible
            and row
            and not _compatible(str(row.manifest.get("platform", "*")), query.compatible)
        ):
            continue
        score = _score(terms, pkg, readme) if terms else 0.0
        if terms and score == 0:
            continue
        scored.append((score, pkg))
    empty = PackageStats()
    keys = {
        "relevance": lambda p: (p[0], p[1].updated_at),
        "installs": lambda p: (stats.get(p[1].name, empty).installs, p[0]),
        "rating": lambda p: (rated.get(p[1].name, (0.0, 0)), p[0]),
        "trending": lambda p: (stats.get(p[1].name, empty).trending, p[0]),
        "newest": lambda p: (p[1].created_at, p[0]),
    }
    scored.sort(key=lambda p: p[1].name)
    scored.sort(key=keys[query.sort], reverse=True)  # stable: ties stay in name order
    start = _offset(cursor)
    page = scored[start : start + limit]
    items = [_summary(p, stats.get(p.name, empty), rated.get(p.name)) for _, p in page]
    more = start + limit < len(scored)
    return PackagePage(items=items, next_cursor=_cursor(start + limit) if more else None)


def version_out(row: PackageVersion, tasks: dict[str, TaskResult] | None = None) -> VersionOut:
    """The API view of one version, its test cases' outcomes read from `tasks` (by task id)."""
    manifest = row.manifest
    signed = bool(row.signature and row.public_key)
    report, quality, tests = with_outcomes(list(row.scan_report), tasks or {}, row.quality)
    return VersionOut(
        version=row.version,
        status=row.status,
        status_reason=row.status_reason,
        content_hash=row.content_hash,
        signed=signed,
        key_id=key_id(row.public_key) if signed and row.public_key else None,
        public_key=row.public_key if signed else None,
        quality=quality,
        tests=tests,
        platform=str(manifest.get("platform", "*")),
        dependencies=dict(manifest.get("dependencies") or {}),
        permissions=dict(manifest.get("permissions") or {}),
        scan_report=report,
        created_at=row.created_at,
    )


async def versions_of(session: AsyncSession, name: str) -> list[PackageVersion]:
    """Every version of package `name`, newest first."""
    rows = list(await session.scalars(select(PackageVersion).where(PackageVersion.package == name)))
    return sorted(rows, key=lambda r: try_parse(r.version) or parse("0.0.0"), reverse=True)


async def package_view(session: AsyncSession, name: str) -> PackageOut:
    """A package with README, versions, permissions, scan reports, rating and analytics."""
    pkg = await session.get(Package, name)
    if pkg is None:
        raise unknown_package(name)
    rows = await versions_of(session, name)
    tasks = await case_tasks(session, rows)
    stats = (await package_stats(session, [name])).get(name, PackageStats())
    rating = (await ratings(session)).get(name)
    current = next((r for r in rows if r.version == pkg.latest), rows[0])
    manifest: dict[str, Any] = current.manifest
    return PackageOut(
        **_summary(pkg, stats, rating).model_dump(),
        readme=current.readme,
        license=str(manifest.get("license", "")),
        homepage=str(manifest.get("homepage", "")),
        agents=[str(spec.get("name")) for spec in current.agents],
        versions=[version_out(r, tasks) for r in rows],
        analytics=stats.as_dict(),
    )


async def categories(session: AsyncSession) -> list[CategoryCount]:
    """Every category with its number of packages (empty ones too)."""
    rows = dict(
        (
            await session.execute(select(Package.category, func.count()).group_by(Package.category))
        ).all()
    )
    return [CategoryCount(category=c, packages=int(rows.get(c, 0))) for c in CATEGORIES]


async def trending(session: AsyncSession, limit: int) -> list[PackageSummary]:
    """The packages whose installs and successful runs grew most over the last 7 days."""
    page = await search(session, Query(sort="trending"), limit, None)
    return page.items


async def analytics(session: AsyncSession) -> dict[str, Any]:
    """The platform overview: packages, versions, installs and runs of installed agents."""
    packages = int(await session.scalar(select(func.count()).select_from(Package)) or 0)
    versions = int(await session.scalar(select(func.count()).select_from(PackageVersion)) or 0)
    return overview(await package_stats(session), packages, versions)


async def owned_version(
    session: AsyncSession, team_id: str, name: str, version: str
) -> PackageVersion:
    """The publisher team's version `version` of `name` (404 for anyone else)."""
    pkg = await session.get(Package, name)
    if pkg is None or pkg.team_id != team_id:
        raise unknown_package(name)
    for row in await versions_of(session, name):
        if row.version == version:
            return row
    raise NotFound(
        f"package {name!r} has no version {version}", details={"package": name, "version": version}
    )
