"""The event bus: `events` (the per-team event log with its routing outcome), `event_routes`
(one row per agent an event reached, with its status, reason, mapped input and task),
`event_hooks` (signed webhooks that publish events) and `tasks.event_id` (the event that
started a task). Existing tasks keep no event.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 01:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.String(length=64), primary_key=True),
        sa.Column("team_id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=128), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=256), nullable=True),
        sa.Column("dedupe_key", sa.String(length=256), nullable=True),
        sa.Column("published_by", sa.String(length=128), nullable=False),
        sa.Column("occurred_at", STAMP, nullable=False),
        sa.Column("published_at", STAMP, nullable=False),
        sa.Column("routed_at", STAMP, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("causation_id", sa.String(length=64), nullable=True),
        sa.Column("causation_task_id", sa.String(length=64), nullable=True),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.UniqueConstraint("team_id", "dedupe_key", name="uq_events_team_dedupe_key"),
    )
    op.create_index("ix_events_team_published", "events", ["team_id", "published_at", "id"])
    op.create_index("ix_events_team_type", "events", ["team_id", "type"])
    op.create_index("ix_events_status_published", "events", ["status", "published_at"])
    op.create_table(
        "event_routes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "event_id",
            sa.String(length=64),
            sa.ForeignKey("events.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("team_id", sa.String(length=64), nullable=False),
        sa.Column("agent", sa.String(length=128), nullable=False),
        sa.Column("agent_version", sa.String(length=64), nullable=False),
        sa.Column("trigger", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("input", sa.JSON(), nullable=True),
        sa.Column("task_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", STAMP, nullable=False),
        sa.UniqueConstraint("event_id", "agent", name="uq_event_routes_event_agent"),
    )
    op.create_index("ix_event_routes_event_id", "event_routes", ["event_id"])
    op.create_index("ix_event_routes_team_id", "event_routes", ["team_id"])
    op.create_table(
        "event_hooks",
        sa.Column("id", sa.String(length=64), primary_key=True),
        sa.Column("team_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=128), nullable=False),
        sa.Column("secret", sa.String(length=256), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", STAMP, nullable=False),
    )
    op.create_index("ix_event_hooks_team_id", "event_hooks", ["team_id"])
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("event_id", sa.String(length=64), nullable=True))
        batch.create_index("ix_tasks_event_id", ["event_id"])


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_index("ix_tasks_event_id")
        batch.drop_column("event_id")
    op.drop_table("event_hooks")
    op.drop_table("event_routes")
    op.drop_table("events")
