"""SQLAlchemy 2.0 typed models of the app database.

The tables keep what must outlive Temporal's retention or be listed cheaply: tasks, their steps,
the per-task event log, artifacts, the audit trail and API keys.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JsonDict = dict[str, Any]


def utcnow() -> datetime:
    """Timezone-aware now, the only clock the models use."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base; JSON columns map to JSON (JSONB-compatible on PostgreSQL)."""

    type_annotation_map = {JsonDict: JSON, datetime: DateTime(timezone=True)}


class Task(Base):
    """One agent task; its id is also its Temporal workflow id."""

    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent: Mapped[str] = mapped_column(String(128), index=True)
    agent_version: Mapped[str] = mapped_column(String(64))
    team_id: Mapped[str] = mapped_column(String(64), index=True)  # the team that owns it
    owner: Mapped[str] = mapped_column(String(128), index=True)  # who started it (a label)
    status: Mapped[str] = mapped_column(String(32), index=True)
    input: Mapped[JsonDict]
    output: Mapped[JsonDict | None]
    error: Mapped[JsonDict | None]
    usage: Mapped[JsonDict] = mapped_column(default=dict)
    model: Mapped[str] = mapped_column(String(256))
    max_steps: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str | None] = mapped_column(String(256))
    # Links: the task this one reruns, forks or retries, and the schedule that started it.
    parent_id: Mapped[str | None] = mapped_column(String(64), index=True)
    relation: Mapped[str | None] = mapped_column(String(16))  # "rerun" | "fork"
    fork_step: Mapped[int | None] = mapped_column(Integer)
    schedule_id: Mapped[str | None] = mapped_column(String(128), index=True)
    # The trace (32 hex digits) of the request or activity that created it, when tracing was on.
    trace_id: Mapped[str | None] = mapped_column(String(32))
    # The event whose trigger started it (docs/events.md).
    event_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # Budgets in force (max_tokens, max_cost, max_steps) and the question the task waits on.
    limits: Mapped[JsonDict | None]
    pending_input: Mapped[JsonDict | None]
    # Usage totals as columns so usage per agent and per owner is one SQL aggregate.
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    # The last event sequence number handed out; bumped in the same transaction as the insert,
    # which serialises writers per task so commit order equals sequence order (no gaps seen).
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    # What only the workflow decided, kept so that a GET of a running task needs no query:
    # its runs (the first step of a continued run writes it), a pause the API's signal asked
    # for (until a resume), and the deadline of a task with a timeout (set by its setup step).
    runs: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    pause_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    deadline: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("team_id", "idempotency_key", name="uq_tasks_team_idempotency_key"),
        Index("ix_tasks_team_created", "team_id", "created_at", "id"),
    )


class TaskStep(Base):
    """One step (activity) of a task: workspace setup, an LLM call or a tool run."""

    __tablename__ = "task_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    step_no: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(256))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    input: Mapped[JsonDict | None]
    output: Mapped[JsonDict | None]
    error: Mapped[JsonDict | None]
    usage: Mapped[JsonDict | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("task_id", "step_no", name="uq_task_steps_task_step"),)


class TaskEvent(Base):
    """One entry of a task's event log, numbered per task from 1 without gaps."""

    __tablename__ = "task_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    step_no: Mapped[int | None] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(64))
    data: Mapped[JsonDict]
    # Makes a re-executed write (an activity retried after its worker died) a no-op.
    dedupe_key: Mapped[str | None] = mapped_column(String(256))
    ts: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("task_id", "seq", name="uq_task_events_task_seq"),
        UniqueConstraint("task_id", "dedupe_key", name="uq_task_events_task_dedupe"),
    )


class Artifact(Base):
    """A file a task produced or received, stored by path or inline."""

    __tablename__ = "artifacts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[str] = mapped_column(String(64), index=True)  # the task's team
    step_no: Mapped[int | None] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(512))
    media_type: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    uri: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEvent(Base):
    """Who did what to which resource, for the audit trail."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str | None] = mapped_column(String(64), index=True)  # None: system-wide
    actor: Mapped[str] = mapped_column(String(128), index=True)
    action: Mapped[str] = mapped_column(String(64))
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(128), index=True)
    details: Mapped[JsonDict] = mapped_column(default=dict)
    ts: Mapped[datetime] = mapped_column(default=utcnow)
    # Who exactly: the user's id and the credential (an API key's id or `jwt:<subject>`).
    user_id: Mapped[str | None] = mapped_column(String(64))
    key_id: Mapped[str | None] = mapped_column(String(128))
    address: Mapped[str | None] = mapped_column(String(64))  # the client's IP
    outcome: Mapped[str] = mapped_column(String(16), default="ok")  # ok, refused, failed
    status_code: Mapped[int | None] = mapped_column(Integer)  # the HTTP status, when a request

    __table_args__ = (
        Index("ix_audit_events_team_ts", "team_id", "ts", "id"),
        Index("ix_audit_events_team_action", "team_id", "action"),
    )


class ApiKey(Base):
    """An API key of one user in one team; only its SHA-256 is stored.

    The prefix helps people tell keys apart; `owner` is the user's name (the label tasks and
    audit entries carry). What the key may do is its scopes intersected with its user's role.
    """

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    owner: Mapped[str] = mapped_column(String(128), index=True)
    name: Mapped[str] = mapped_column(String(128))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Team(Base):
    """A tenant: it owns tasks, agents, schedules, artifacts and keys."""

    __tablename__ = "teams"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None]  # a deleted team's keys are refused at once
    # Limits (docs/api.md, Limits): None takes the setting's default, 0 means unlimited.
    rate_limit_rpm: Mapped[int | None] = mapped_column(Integer)
    max_running_tasks: Mapped[int | None] = mapped_column(Integer)
    daily_token_quota: Mapped[int | None] = mapped_column(BigInteger)


class RateCounter(Base):
    """Requests of one credential in one minute: a fixed window, shared by every API process."""

    __tablename__ = "rate_counters"

    key_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    window: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(Integer, default=0)


class User(Base):
    """A person (or a service identity) who may belong to teams."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    email: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TeamMember(Base):
    """A user's role in a team: owner, admin, member or viewer."""

    __tablename__ = "team_members"

    team_id: Mapped[str] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
