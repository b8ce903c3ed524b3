"""audit events get the actor's user and credential, the client address, the outcome and the
HTTP status (with indexes for the audit filters); teams get their limits; rate_counters holds
the per-key request counters. Existing rows are kept (their outcome is `ok`).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 23:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("user_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("key_id", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("address", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column("outcome", sa.String(length=16), nullable=False, server_default="ok")
        )
        batch.add_column(sa.Column("status_code", sa.Integer(), nullable=True))
    with op.batch_alter_table("audit_events") as batch:
        batch.alter_column("outcome", existing_type=sa.String(length=16), server_default=None)
        batch.create_index("ix_audit_events_team_ts", ["team_id", "ts", "id"])
        batch.create_index("ix_audit_events_team_action", ["team_id", "action"])
    with op.batch_alter_table("teams") as batch:
        batch.add_column(sa.Column("rate_limit_rpm", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("max_running_tasks", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("daily_token_quota", sa.BigInteger(), nullable=True))
    op.create_table(
        "rate_counters",
        sa.Column("key_id", sa.String(length=128), primary_key=True),
        sa.Column("window", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("count", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rate_counters")
    with op.batch_alter_table("teams") as batch:
        batch.drop_column("daily_token_quota")
        batch.drop_column("max_running_tasks")
        batch.drop_column("rate_limit_rpm")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_index("ix_audit_events_team_action")
        batch.drop_index("ix_audit_events_team_ts")
        for column in ("status_code", "outcome", "address", "key_id", "user_id"):
            batch.drop_column(column)
