"""The database copy of the resource locks: what `GET /v1/locks` lists without Temporal."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cape.db.models import Base, utcnow


class Lock(Base):
    """One lock of one team, as its lock workflow last saved it (never its tokens)."""

    __tablename__ = "locks"

    team_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource: Mapped[str] = mapped_column(String(200), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(128))
    holder_kind: Mapped[str | None] = mapped_column(String(16))
    priority: Mapped[str | None] = mapped_column(String(16))
    fence: Mapped[int] = mapped_column(BigInteger, default=0)
    granted_at: Mapped[datetime | None]
    lease_expires_at: Mapped[datetime | None]
    # The waiters in grant order: [{holder, kind, priority, since, wait_until}].
    waiters: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # The workflow's change counter: a late or retried save never overwrites a newer one.
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    capacity: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
