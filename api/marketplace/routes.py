"""Marketplace catalogue routes: publish, search, categories, trending, analytics, reviews.

One package, yanking a version and the publisher's answers too (docs/marketplace.md).

The catalogue is shared by every team (a published package is public); what a team changes is
its own: its packages' versions, its users' reviews, its installs (`install_routes.py`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status

from api.deps import (
    AgentWriterDep,
    ReaderDep,
    SessionDep,
    SettingsDep,
    TemporalDep,
    WriterDep,
    WriteSessionDep,
)
from api.marketplace.browse import (
    all_categories,
    browse,
    one_package,
    reviews_of,
    trending_packages,
)
from api.marketplace.catalogue import Query as Search
from api.marketplace.catalogue import analytics
from api.marketplace.publish import publish, read_upload
from api.marketplace.reviews import put_review, reply, yank_version
from api.marketplace.schemas import (
    PACKAGE_TYPES,
    CategoryCount,
    PackageBody,
    PackageOut,
    PackagePage,
    PackageSummary,
    PublishOut,
    ReplyBody,
    ReviewBody,
    ReviewOut,
    VersionOut,
    YankBody,
)

router = APIRouter(prefix="/marketplace", tags=["marketplace"])
PUBLISH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": PackageBody.model_json_schema()},
            **{
                media: {"schema": {"type": "string", "format": "binary"}} for media in PACKAGE_TYPES
            },
        },
    }
}


@router.post(
    "/packages",
    status_code=status.HTTP_201_CREATED,
    response_model=PublishOut,
    openapi_extra=PUBLISH_BODY,
)
async def publish_package(
    request: Request,
    session: WriteSessionDep,
    settings: SettingsDep,
    temporal: TemporalDep,
    principal: AgentWriterDep,
) -> PublishOut:
    """Publish a package version: an archive (tar.gz or zip) or JSON (`PackageBody`).

    Every pipeline step is reported; 422 lists each blocking finding by step and field, 413
    when the upload is over `marketplace_max_upload_bytes`. The package's test cases then run
    as tasks of the caller's team; the version's `tests` step shows them `pending` until done.
    """
    upload = await read_upload(request, settings)
    return await publish(session, principal, settings, temporal, upload)


@router.get("/packages", response_model=PackagePage)
async def list_packages(
    session: SessionDep,
    settings: SettingsDep,
    principal: ReaderDep,
    q: Annotated[str | None, Query(max_length=200, description="Full-text search.")] = None,
    category: Annotated[str | None, Query(max_length=32)] = None,
    tag: Annotated[str | None, Query(max_length=32)] = None,
    publisher: Annotated[str | None, Query(max_length=128, description="A team slug.")] = None,
    min_rating: Annotated[float | None, Query(ge=1, le=5)] = None,
    compatible: Annotated[
        str | None, Query(max_length=64, description="A platform version.")
    ] = None,
    sort: Annotated[
        str, Query(description="relevance, installs, rating, trending or newest")
    ] = "relevance",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> PackagePage:
    """Search the catalogue: filters, a sort order and cursor paging."""
    query = Search(
        q=q,
        category=category,
        tag=tag,
        publisher=publisher,
        min_rating=min_rating,
        compatible=compatible,
        sort=sort,
    )
    return await browse(settings, session, query, limit, cursor)


@router.get("/categories", response_model=list[CategoryCount])
async def list_categories(
    session: SessionDep, settings: SettingsDep, principal: ReaderDep
) -> list[CategoryCount]:
    """The ten categories with their numbers of packages."""
    return await all_categories(settings, session)


@router.get("/trending", response_model=list[PackageSummary])
async def list_trending(
    session: SessionDep,
    settings: SettingsDep,
    principal: ReaderDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> list[PackageSummary]:
    """The packages whose installs and successful runs grew most (7 days against the 7 before)."""
    return await trending_packages(settings, session, limit)


@router.get("/analytics", response_model=dict[str, Any])
async def platform_analytics(session: SessionDep, principal: ReaderDep) -> dict[str, Any]:
    """Totals over every team: packages, installs, tasks of installed agents, success, cost."""
    return await analytics(session)


@router.get("/packages/{package}", response_model=PackageOut)
async def get_package(
    package: str, session: SessionDep, settings: SettingsDep, principal: ReaderDep
) -> PackageOut:
    """A package: README, versions with scan reports and signatures, rating and analytics."""
    return await one_package(settings, session, package)


@router.post("/packages/{package}/versions/{version}/yank", response_model=VersionOut)
async def yank(
    package: str, version: str, body: YankBody, session: WriteSessionDep, principal: AgentWriterDep
) -> VersionOut:
    """Yank a version of your team's package: no install or dependency picks it from now on."""
    return await yank_version(session, principal, package, version, body.reason)


@router.get("/packages/{package}/reviews", response_model=list[ReviewOut])
async def get_reviews(
    package: str, session: SessionDep, settings: SettingsDep, principal: ReaderDep
) -> list[ReviewOut]:
    """The package's reviews, newest first, each with the version it was written for."""
    return await reviews_of(settings, session, package)


@router.post("/packages/{package}/reviews", response_model=ReviewOut)
async def review(
    package: str, body: ReviewBody, session: WriteSessionDep, principal: WriterDep
) -> ReviewOut:
    """Rate a package (1-5 stars and a text); sending it again edits your review."""
    return await put_review(session, principal, package, body)


@router.post("/packages/{package}/reviews/{user_id}/reply", response_model=ReviewOut)
async def answer(
    package: str,
    user_id: str,
    body: ReplyBody,
    session: WriteSessionDep,
    principal: AgentWriterDep,
) -> ReviewOut:
    """Answer a review of your team's package."""
    return await reply(session, principal, package, user_id, body.text)
