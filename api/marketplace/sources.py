"""Where installs find packages: this instance's catalogue, or another's (federation).

With `CAPE_MARKETPLACE_URL` set, the catalogue is read from that CapeControl instance over its
API (`GET /v1/marketplace/index` for resolution, `.../versions/{version}/content` for what to
install), and the content is verified here exactly as a local version is: its hash recomputed
from the manifest, specs and file hashes, its signature checked against that hash.
"""

from __future__ import annotations

from typing import Any, Protocol

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cape.db.market_models import PackageVersion
from cape.errors import NotFound, Unavailable
from cape.marketplace.resolver import Candidate
from cape.settings import Settings


class Source(Protocol):
    """A catalogue installs resolve against and read versions from."""

    async def catalogue(self) -> dict[str, list[Candidate]]:
        """Every version of every package, with dependencies and whether it was yanked."""
        ...

    async def version(self, name: str, version: str) -> PackageVersion:
        """One version's stored content (NotFound when there is no such version)."""
        ...


def _missing(name: str, version: str) -> NotFound:
    return NotFound(
        f"package {name!r} has no version {version}", details={"package": name, "version": version}
    )


class LocalSource:
    """This instance's own catalogue."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def catalogue(self) -> dict[str, list[Candidate]]:
        """Every version of every package in this instance's tables."""
        rows = await self.session.execute(
            select(
                PackageVersion.package,
                PackageVersion.version,
                PackageVersion.manifest,
                PackageVersion.status,
            )
        )
        catalogue: dict[str, list[Candidate]] = {}
        for name, version, manifest, status in rows:
            deps = dict(manifest.get("dependencies") or {})
            catalogue.setdefault(name, []).append(
                Candidate(name, version, deps, status == "yanked")
            )
        return catalogue

    async def version(self, name: str, version: str) -> PackageVersion:
        """The stored version row."""
        row = await self.session.scalar(
            select(PackageVersion).where(
                PackageVersion.package == name, PackageVersion.version == version
            )
        )
        if row is None:
            raise _missing(name, version)
        return row


class RemoteSource:
    """Another instance's catalogue, read over its API with `CAPE_MARKETPLACE_API_KEY`."""

    def __init__(self, settings: Settings) -> None:
        key = settings.marketplace_api_key
        self.url = settings.marketplace_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {key.get_secret_value()}"} if key else {}
        self.timeout = settings.marketplace_timeout_seconds

    async def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """The JSON the other instance answers (its 404 is ours; anything else is a 503)."""
        try:
            async with httpx.AsyncClient(
                base_url=self.url, headers=self.headers, timeout=self.timeout
            ) as client:
                response = await client.get(path, params=params)
        except httpx.HTTPError as exc:
            raise Unavailable(f"the marketplace at {self.url} cannot be reached: {exc}") from None
        if response.status_code == 404:
            raise NotFound(f"not found in the marketplace at {self.url}: {path}")
        if response.status_code >= 400:
            raise Unavailable(
                f"the marketplace at {self.url} answered {response.status_code} to {path}"
            )
        return response.json()

    async def catalogue(self) -> dict[str, list[Candidate]]:
        """The other instance's index."""
        catalogue: dict[str, list[Candidate]] = {}
        for item in await self.get("/v1/marketplace/index"):
            candidate = Candidate(
                str(item["name"]),
                str(item["version"]),
                {str(k): str(v) for k, v in dict(item.get("dependencies") or {}).items()},
                item.get("status") == "yanked",
            )
            catalogue.setdefault(candidate.name, []).append(candidate)
        return catalogue

    async def version(self, name: str, version: str) -> PackageVersion:
        """The other instance's content of one version, as an unsaved row to verify."""
        try:
            data = await self.get(f"/v1/marketplace/packages/{name}/versions/{version}/content")
        except NotFound:
            raise _missing(name, version) from None
        return PackageVersion(
            team_id="", package=name, version=version, status=data["status"],
            status_reason=data.get("status_reason"), manifest=data["manifest"],
            agents=data["agents"], files=data["files"], readme=data.get("readme", ""),
            content_hash=data["content_hash"], scan_report=data.get("scan_report", []),
            quality=data.get("quality", 0.0), signature=data.get("signature"),
            public_key=data.get("public_key"),
        )  # fmt: skip


def source_of(settings: Settings, session: AsyncSession) -> Source:
    """The catalogue installs use: the other instance's when `marketplace_url` is set."""
    return RemoteSource(settings) if settings.marketplace_url else LocalSource(session)
