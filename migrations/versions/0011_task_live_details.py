"""tasks keep what only the workflow knew: its runs, a pause asked for, the deadline.

`runs` (workflow runs so far: continue-as-new adds one), `pause_requested` (a pause signal was
accepted and no resume since) and `deadline` (the end of a task with a timeout), so that a GET of
a running task shows them from the row, with no workflow query. Existing rows get 1, false and
no deadline; a task still running then shows its later runs from its next continue-as-new on.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("runs", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(
            sa.Column("pause_requested", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("deadline", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("deadline")
        batch.drop_column("pause_requested")
        batch.drop_column("runs")
