"""Request and response models of the marketplace routes (`/v1/marketplace`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PACKAGE_TYPES = (
    "application/gzip",
    "application/x-gzip",
    "application/x-tar+gzip",
    "application/zip",
    "application/octet-stream",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PackageBody(_Strict):
    """A package sent as JSON: the manifest, the agent specs and any other text files."""

    manifest: dict[str, Any]
    agents: list[dict[str, Any]] = Field(default_factory=list, max_length=16)
    files: dict[str, str] = Field(default_factory=dict, max_length=200)
    signature: str | None = Field(None, max_length=200, description="Base64 Ed25519 signature.")
    public_key: str | None = Field(None, max_length=200, description="Base64 raw public key.")


class PublishOut(BaseModel):
    """A published version and the pipeline's report."""

    package: str
    version: str
    content_hash: str
    signed: bool
    key_id: str | None
    quality: float
    report: list[dict[str, Any]]


class PackageSummary(BaseModel):
    """A package in a listing."""

    name: str
    title: str
    summary: str
    category: str
    tags: list[str]
    publisher: str
    latest: str
    rating: float | None
    reviews: int
    installs: int
    active_installs: int
    trending: float
    created_at: datetime
    updated_at: datetime


class PackagePage(BaseModel):
    """One page of packages; `next_cursor` asks for the next one."""

    items: list[PackageSummary]
    next_cursor: str | None


class VersionOut(BaseModel):
    """One version of a package."""

    version: str
    status: str
    status_reason: str | None
    content_hash: str
    signed: bool
    key_id: str | None
    public_key: str | None
    quality: float = Field(description="The scan's score less the failed test cases' share.")
    tests: str = Field("none", description="The test cases: none, pending, passed or failed.")
    platform: str
    dependencies: dict[str, str]
    permissions: dict[str, Any]
    scan_report: list[dict[str, Any]]
    created_at: datetime


class PackageOut(PackageSummary):
    """A package with its README, versions (newest first), permissions and analytics."""

    readme: str
    license: str
    homepage: str
    agents: list[str]
    versions: list[VersionOut]
    analytics: dict[str, Any]


class CategoryCount(BaseModel):
    """A category and how many packages it holds."""

    category: str
    packages: int


class YankBody(_Strict):
    """Why a version is yanked (installs and dependencies stop picking it)."""

    reason: str = Field(min_length=1, max_length=500)


class InstallBody(_Strict):
    """What to install: a package and range, or a lockfile; the permissions accepted."""

    package: str | None = Field(None, max_length=64)
    version: str = Field("*", max_length=256)
    lockfile: dict[str, Any] | None = None
    accept_permissions: list[str] = Field(default_factory=list, max_length=256)


class UpdateBody(_Strict):
    """The permissions the newest compatible version asks for, accepted."""

    version: str = Field("*", max_length=256, description="A range the update must satisfy.")
    accept_permissions: list[str] = Field(default_factory=list, max_length=256)


class PinBody(_Strict):
    """Whether the install keeps its version through updates."""

    pinned: bool = True


class InstallOut(BaseModel):
    """A package installed in the team."""

    package: str
    version: str
    content_hash: str
    direct: bool
    pinned: bool
    agents: dict[str, str] = Field(description="Spec name -> the agent's name in your team.")
    permissions: list[str]
    installed_at: datetime
    updated_at: datetime


class InstallResult(BaseModel):
    """What an install or update did, and the lockfile written."""

    installed: list[InstallOut]
    lockfile: dict[str, Any]
    permission_diff: dict[str, list[str]] = Field(default_factory=dict)


class ReviewBody(_Strict):
    """A rating of 1-5 stars and a text; sending it again edits yours."""

    stars: int = Field(ge=1, le=5)
    text: str = Field("", max_length=5000)


class ReplyBody(_Strict):
    """The publisher's answer to a review."""

    text: str = Field(min_length=1, max_length=5000)


class ReviewOut(BaseModel):
    """A review, the version it was written for and the publisher's answer."""

    package: str
    user_id: str
    author: str
    version: str
    stars: int
    text: str
    reply: str | None
    replied_at: datetime | None
    created_at: datetime
    updated_at: datetime


class IndexEntry(BaseModel):
    """One version in the index another instance resolves dependencies against."""

    name: str
    version: str
    status: str
    dependencies: dict[str, str]


class VersionContent(BaseModel):
    """What an install needs of one version, to verify and register it (federation)."""

    package: str
    version: str
    status: str
    status_reason: str | None
    manifest: dict[str, Any]
    agents: list[dict[str, Any]]
    files: dict[str, str] = Field(description="Path -> SHA-256 of the package's other files.")
    readme: str
    content_hash: str
    signature: str | None
    public_key: str | None
    scan_report: list[dict[str, Any]]
    quality: float
