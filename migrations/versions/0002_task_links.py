"""task links: rerun/fork/retry parents and the schedule that started a task

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 08:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("parent_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("relation", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("fork_step", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("schedule_id", sa.String(length=128), nullable=True))
        batch.create_index("ix_tasks_parent_id", ["parent_id"])
        batch.create_index("ix_tasks_schedule_id", ["schedule_id"])


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_index("ix_tasks_schedule_id")
        batch.drop_index("ix_tasks_parent_id")
        batch.drop_column("schedule_id")
        batch.drop_column("fork_step")
        batch.drop_column("relation")
        batch.drop_column("parent_id")
