"""Publishing a package version: read the upload, run the pipeline, store it or refuse it.

The body is an archive (tar.gz or zip, any of `PACKAGE_TYPES`) or JSON (`PackageBody`); it is
read under `marketplace_max_upload_bytes` (413 over it). A blocking finding is a 422 whose
details list every blocking finding by step and field; the full report is in the 201 answer.
"""

from __future__ import annotations

import json
from typing import Any

import structlog
from fastapi import Request
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.marketplace.cases import queue_cases, start_cases
from api.marketplace.schemas import PACKAGE_TYPES, PackageBody, PublishOut
from api.marketplace.sources import LocalSource
from cape.audit import record
from cape.auth import Principal
from cape.db.market_models import Package, PackageVersion
from cape.db.models import Team
from cape.errors import Conflict, InvalidInput, PayloadTooLarge, UnsupportedMediaType
from cape.marketplace.advisories import load_advisories
from cape.marketplace.archive import ArchiveLimits, read_archive
from cape.marketplace.content import PackageContent, file_hashes, key_id
from cape.marketplace.findings import Step, blocking, report_of
from cape.marketplace.pipeline import Context, Outcome, run_pipeline
from cape.registry.checks import validation_problems
from cape.settings import Settings

log = structlog.get_logger(__name__)


async def read_upload(request: Request, settings: Settings) -> tuple[bytes, str]:
    """The body (at most the upload limit, else 413) and its media type (415 if unknown)."""
    limit = settings.marketplace_max_upload_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"the package is larger than the limit of {limit} bytes", details={"limit": limit}
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(
                f"the package is larger than the limit of {limit} bytes", details={"limit": limit}
            )
        chunks.append(chunk)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json" and media not in PACKAGE_TYPES:
        raise UnsupportedMediaType(
            f"send a package as JSON or as a tar.gz or zip archive, not {media or 'none'!r}",
            details={"accepted": ["application/json", *PACKAGE_TYPES]},
        )
    return b"".join(chunks), media


def _json_content(body: bytes) -> PackageContent:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(
            "the body is not JSON", details=[{"field": "body", "message": str(exc)}]
        ) from None
    try:
        parsed = PackageBody.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(exc, "body")
        raise InvalidInput("invalid package body", details=problems) from None
    files = {path: text.encode() for path, text in parsed.files.items()}
    return PackageContent(
        parsed.manifest, parsed.agents, files, parsed.signature, parsed.public_key
    )


def limits_of(settings: Settings) -> ArchiveLimits:
    """The archive limits the settings give."""
    return ArchiveLimits(
        max_bytes=settings.marketplace_max_unpacked_bytes,
        max_ratio=settings.marketplace_max_ratio,
        max_files=settings.marketplace_max_files,
    )


async def _context(
    session: AsyncSession, principal: Principal, settings: Settings, name: Any
) -> Context:
    package = await session.get(Package, name) if isinstance(name, str) else None
    versions = []
    if package is not None:
        versions = list(
            await session.scalars(
                select(PackageVersion.version).where(PackageVersion.package == name)
            )
        )
    return Context(
        team_id=principal.team_id,
        owner_team=package.team_id if package is not None else None,
        versions=versions,
        catalogue=await LocalSource(session).catalogue(),
        advisories=load_advisories(settings.marketplace_advisories),
    )


def _refuse(outcome: Outcome) -> InvalidInput:
    found = blocking(outcome.steps)
    fields = ", ".join(dict.fromkeys(f["field"] for f in found))
    return InvalidInput(f"package refused: {fields}", details=found)


async def publish(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    temporal: Client,
    upload: tuple[bytes, str],
) -> PublishOut:
    """Run the pipeline over an upload and store the version when nothing blocks.

    The stored version's test cases are started as tasks once it is committed (`cases`).
    """
    body, media = upload
    archive: bytes | None = None
    archive_step: Step | None = None
    if media == "application/json":
        content = _json_content(body)
    else:
        archive, archive_step = body, Step("archive")
        found = read_archive(body, limits_of(settings), archive_step)
        if found is None:
            raise _refuse(Outcome([archive_step]))
        content = found
    name = content.manifest.get("name") if isinstance(content.manifest, dict) else None
    outcome = run_pipeline(
        content, await _context(session, principal, settings, name), archive_step
    )
    if outcome.blocked or outcome.manifest is None:
        log.info("package refused", package=name, findings=len(blocking(outcome.steps)))
        raise _refuse(outcome)
    return await _store(session, (principal, settings, temporal), content, outcome, archive)


async def _store(
    session: AsyncSession,
    caller: tuple[Principal, Settings, Client],
    content: PackageContent,
    outcome: Outcome,
    archive: bytes | None,
) -> PublishOut:
    principal, settings, temporal = caller
    manifest = outcome.manifest
    assert manifest is not None
    team = await session.get(Team, principal.team_id)
    package = await session.get(Package, manifest.name)
    if package is None:
        package = Package(
            name=manifest.name,
            team_id=principal.team_id,
            publisher=team.slug if team else principal.team_id,
        )
        session.add(package)
    package.title, package.summary = manifest.title, manifest.summary
    package.category, package.tags, package.latest = (
        manifest.category,
        manifest.tags,
        manifest.version,
    )
    queued = await queue_cases(session, principal, settings, manifest, outcome.agents)
    report = [*report_of(outcome.steps), queued.step]
    # The manifest and specs as sent: the content hash is recomputed from them at install.
    session.add(
        PackageVersion(
            team_id=principal.team_id,
            package=manifest.name,
            version=manifest.version,
            status="published",
            manifest=content.manifest,
            agents=content.agents,
            files=file_hashes(content.files),
            readme=manifest.readme,
            archive=archive,
            content_hash=outcome.content_hash,
            scan_report=report,
            quality=outcome.quality,
            signature=content.signature,
            public_key=content.public_key,
        )
    )
    record(
        session,
        principal,
        "package.publish",
        "package",
        manifest.name,
        version=manifest.version,
        content_hash=outcome.content_hash,
    )
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(
            f"version {manifest.version} of {manifest.name!r} was just published",
            details={"package": manifest.name},
        ) from None
    log.info("package published", package=manifest.name, version=manifest.version)
    await start_cases(temporal, settings, queued)
    signed = bool(content.signature)
    return PublishOut(
        package=manifest.name,
        version=manifest.version,
        content_hash=outcome.content_hash,
        signed=signed,
        key_id=key_id(content.public_key) if signed and content.public_key else None,
        quality=outcome.quality,
        report=report,
    )
