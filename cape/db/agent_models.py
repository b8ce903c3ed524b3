"""Registry tables: agents and their versioned specs (docs/architecture.md, Statuses)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cape.db.models import Base, JsonDict, utcnow


class Agent(Base):
    """An agent: a name, who owns it and which version tasks get when they name no version."""

    __tablename__ = "agents"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128), index=True)  # "system" for built-ins
    # The team that owns a user agent; None for the built-ins, which every team sees.
    team_id: Mapped[str | None] = mapped_column(String(64), index=True)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(64), default="general", index=True)
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    default_version: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AgentVersion(Base):
    """One version of an agent's spec: a draft until published, immutable after."""

    __tablename__ = "agent_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agent: Mapped[str] = mapped_column(ForeignKey("agents.name", ondelete="CASCADE"), index=True)
    version: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # draft | published | deprecated | yanked
    spec: Mapped[JsonDict]
    status_reason: Mapped[str | None] = mapped_column(Text)  # why deprecated or yanked
    successor: Mapped[str | None] = mapped_column(String(64))  # the version to move to
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("agent", "version", name="uq_agent_versions_agent_version"),)
