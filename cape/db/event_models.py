"""Event bus tables: the event log, each event's routes to agents, and signed webhooks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cape.db.models import Base, JsonDict, utcnow


class Event(Base):
    """One published event of a team and its routing outcome (docs/events.md)."""

    __tablename__ = "events"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    team_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(128))
    data: Mapped[JsonDict]
    priority: Mapped[str] = mapped_column(String(16))
    source: Mapped[str | None] = mapped_column(String(256))
    dedupe_key: Mapped[str | None] = mapped_column(String(256))
    published_by: Mapped[str] = mapped_column(String(128))  # the publisher's label
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    routed_at: Mapped[datetime | None]
    # pending until routed; then routed | unhandled | filtered | failed
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    # The event and task that caused this one (a task's `publish_event`), and the chain's depth.
    causation_id: Mapped[str | None] = mapped_column(String(64))
    causation_task_id: Mapped[str | None] = mapped_column(String(64))
    depth: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        UniqueConstraint("team_id", "dedupe_key", name="uq_events_team_dedupe_key"),
        Index("ix_events_team_published", "team_id", "published_at", "id"),
        Index("ix_events_team_type", "team_id", "type"),
        Index("ix_events_status_published", "status", "published_at"),
    )


class EventRoute(Base):
    """What one event did for one agent: started a task, failed (why) or was filtered out."""

    __tablename__ = "event_routes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[str] = mapped_column(String(64), index=True)
    agent: Mapped[str] = mapped_column(String(128))
    agent_version: Mapped[str] = mapped_column(String(64))
    trigger: Mapped[str] = mapped_column(String(128))  # the trigger's event pattern
    status: Mapped[str] = mapped_column(String(16))  # started | failed | filtered
    reason: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(16))
    input: Mapped[JsonDict | None]
    task_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("event_id", "agent", name="uq_event_routes_event_agent"),)


class EventHook(Base):
    """A webhook: signed requests to `/v1/hooks/{id}` publish events of `event_type`."""

    __tablename__ = "event_hooks"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    team_id: Mapped[str] = mapped_column(String(64), index=True)
    event_type: Mapped[str] = mapped_column(String(128))
    secret: Mapped[str] = mapped_column(String(256))
    priority: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
