"""Ratings and reviews, the publisher's answers, and yanking a version.

A review is one per user per package (sending it again edits it); yanking is the publisher's
other change after the fact.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.marketplace.cases import case_tasks
from api.marketplace.catalogue import owned_version, unknown_package, version_out, versions_of
from api.marketplace.install import active_installs
from api.marketplace.schemas import ReviewBody, ReviewOut, VersionOut
from cape.audit import record
from cape.auth import Principal
from cape.db.market_models import Package, Review
from cape.db.models import utcnow
from cape.errors import Conflict, NotFound


def review_out(row: Review) -> ReviewOut:
    """The API view of a review."""
    return ReviewOut(
        package=row.package,
        user_id=row.user_id,
        author=row.author,
        version=row.version,
        stars=row.stars,
        text=row.text,
        reply=row.reply,
        replied_at=row.replied_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def list_reviews(session: AsyncSession, name: str) -> list[ReviewOut]:
    """A package's reviews, newest first."""
    if await session.get(Package, name) is None:
        raise unknown_package(name)
    rows = await session.scalars(
        select(Review).where(Review.package == name).order_by(Review.updated_at.desc())
    )
    return [review_out(row) for row in rows]


async def put_review(
    session: AsyncSession, principal: Principal, name: str, body: ReviewBody
) -> ReviewOut:
    """Add or edit the caller's review, for the version their team runs (else the latest)."""
    pkg = await session.get(Package, name)
    if pkg is None:
        raise unknown_package(name)
    installed = (await active_installs(session, principal.team_id)).get(name)
    version = installed.version if installed else pkg.latest
    user = principal.user_id or principal.owner
    row = await session.scalar(select(Review).where(Review.package == name, Review.user_id == user))
    if row is None:
        row = Review(
            package=name,
            user_id=user,
            team_id=principal.team_id,
            author=principal.owner,
            version=version,
            stars=body.stars,
            text=body.text,
        )
        session.add(row)
    else:
        row.version, row.stars, row.text, row.updated_at = version, body.stars, body.text, utcnow()
    record(session, principal, "package.review", "package", name, stars=body.stars)
    await session.commit()
    return review_out(row)


async def reply(
    session: AsyncSession, principal: Principal, name: str, user_id: str, text: str
) -> ReviewOut:
    """The publisher team's answer to user `user_id`'s review (404 for any other team)."""
    pkg = await session.get(Package, name)
    if pkg is None or pkg.team_id != principal.team_id:
        raise unknown_package(name)
    row = await session.scalar(
        select(Review).where(Review.package == name, Review.user_id == user_id)
    )
    if row is None:
        raise NotFound(
            f"no review of {name!r} by {user_id!r}", details={"package": name, "user_id": user_id}
        )
    row.reply, row.replied_at = text, utcnow()
    record(session, principal, "package.reply", "package", name, user_id=user_id)
    await session.commit()
    return review_out(row)


async def yank_version(
    session: AsyncSession, principal: Principal, name: str, version: str, reason: str
) -> VersionOut:
    """Yank a version: installs and dependency resolution stop picking it."""
    row = await owned_version(session, principal.team_id, name, version)
    if row.status == "yanked":
        raise Conflict(f"{name} {version} is yanked already", details={"package": name})
    row.status, row.status_reason = "yanked", reason
    await _relatest(session, name)
    record(session, principal, "package.yank", "package", name, version=version, reason=reason)
    await session.commit()
    return version_out(row, await case_tasks(session, [row]))


async def _relatest(session: AsyncSession, name: str) -> None:
    """Point the package's `latest` at its newest version that is not yanked (if any)."""
    pkg = await session.get(Package, name)
    rows = await versions_of(session, name)  # newest first
    usable = next((r for r in rows if r.status != "yanked"), None)
    if pkg is not None and usable is not None:
        pkg.latest = usable.version
