"""Agent runtime instances: each instance's copy of its workflow's state, and its history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cape.db.models import Base, JsonDict, utcnow


class AgentInstance(Base):
    """A long-lived agent of a team that runs one task per event it subscribes to.

    The configuration is written at creation; the state, counters, inbox length and current
    tasks are the instance workflow's, copied here by its `save_instance` activity.
    """

    __tablename__ = "agent_instances"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    team_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))
    agent: Mapped[str] = mapped_column(String(128))
    version_range: Mapped[str] = mapped_column(String(64))  # empty: the agent's default
    agent_version: Mapped[str | None] = mapped_column(String(64))  # the last task's version
    # [{event, filter, input}]: event types (with `*`), a filter on the data, an input mapping.
    subscriptions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    max_concurrent: Mapped[int] = mapped_column(Integer, default=1)
    failure_limit: Mapped[int] = mapped_column(Integer, default=3)
    input_defaults: Mapped[JsonDict] = mapped_column(default=dict)
    model: Mapped[str | None] = mapped_column(String(256))  # the tasks' model; None: the agent's
    state: Mapped[str] = mapped_column(String(16))  # idle | running | paused | error | stopped
    # {received, started, succeeded, failed, canceled, consecutive_failures}
    counters: Mapped[JsonDict] = mapped_column(default=dict)
    inbox_length: Mapped[int] = mapped_column(Integer, default=0)
    current_tasks: Mapped[list[Any]] = mapped_column(JSON, default=list)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128))
    # The workflow's save counter: a late or retried save never overwrites a newer one.
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("team_id", "name", name="uq_agent_instances_team_name"),
        Index("ix_agent_instances_team_created", "team_id", "created_at", "id"),
    )


class InstanceHistory(Base):
    """One event an instance handled: the task it ran, how it ended and how long it took."""

    __tablename__ = "instance_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(64))
    instance_id: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(64))
    task_id: Mapped[str | None] = mapped_column(String(64))
    agent_version: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))  # running | succeeded | failed | canceled
    reason: Mapped[str | None] = mapped_column(Text)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("instance_id", "event_id", name="uq_instance_history_event"),
        Index("ix_instance_history_instance_started", "instance_id", "started_at", "id"),
    )
