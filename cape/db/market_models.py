"""Marketplace tables: packages, their immutable versions, installs per team, reviews."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from cape.db.models import Base, JsonDict, utcnow


class Package(Base):
    """A package name, the team that publishes it and what its newest version says."""

    __tablename__ = "marketplace_packages"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    team_id: Mapped[str] = mapped_column(String(64), index=True)  # the publisher
    publisher: Mapped[str] = mapped_column(String(128))  # the publisher team's slug
    title: Mapped[str] = mapped_column(String(120))
    summary: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(32), index=True)
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    latest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PackageVersion(Base):
    """One published version: never changes once stored (only its status may become yanked)."""

    __tablename__ = "marketplace_package_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(64), index=True)  # the publisher
    package: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="published")  # or yanked
    status_reason: Mapped[str | None] = mapped_column(Text)
    manifest: Mapped[JsonDict]
    agents: Mapped[list[Any]] = mapped_column(JSON)
    files: Mapped[JsonDict] = mapped_column(default=dict)  # path -> sha256 of other files
    readme: Mapped[str] = mapped_column(Text, default="")
    archive: Mapped[bytes | None] = mapped_column(LargeBinary)  # the upload, when one was sent
    content_hash: Mapped[str] = mapped_column(String(64))
    scan_report: Mapped[list[Any]] = mapped_column(JSON)
    quality: Mapped[float] = mapped_column(Float, default=0.0)
    signature: Mapped[str | None] = mapped_column(Text)
    public_key: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("package", "version", name="uq_package_versions"),)


class Install(Base):
    """A package installed in a team: its exact version, lockfile and accepted permissions."""

    __tablename__ = "marketplace_installs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(64))
    package: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[str] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(64))
    direct: Mapped[bool] = mapped_column(Boolean, default=True)  # False: a dependency
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    agents: Mapped[JsonDict] = mapped_column(default=dict)  # spec name -> installed agent
    lockfile: Mapped[JsonDict]
    accepted_permissions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    installed_by: Mapped[str] = mapped_column(String(128))
    installed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    uninstalled_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_marketplace_installs_team_package", "team_id", "package"),)


class Review(Base):
    """One user's rating and text of a package (editable), and the publisher's answer."""

    __tablename__ = "marketplace_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(64), index=True)  # the reviewer's team
    package: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    author: Mapped[str] = mapped_column(String(128))
    version: Mapped[str] = mapped_column(String(64))  # the version it was written for
    stars: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text, default="")
    reply: Mapped[str | None] = mapped_column(Text)
    replied_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("package", "user_id", name="uq_reviews_package_user"),)
