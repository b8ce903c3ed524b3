"""agent registry (agents, agent_versions); task budgets, pending input and usage totals

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 09:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.func.now()


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("name", sa.String(length=128), primary_key=True),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("category", sa.String(length=64), nullable=False, server_default="general"),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("default_version", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_index("ix_agents_owner", "agents", ["owner"])
    op.create_index("ix_agents_category", "agents", ["category"])
    op.create_table(
        "agent_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "agent",
            sa.String(length=128),
            sa.ForeignKey("agents.name", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("successor", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.UniqueConstraint("agent", "version", name="uq_agent_versions_agent_version"),
    )
    op.create_index("ix_agent_versions_agent", "agent_versions", ["agent"])
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("limits", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("pending_input", sa.JSON(), nullable=True))
        batch.add_column(
            sa.Column("prompt_tokens", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("completion_tokens", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("cost_usd", sa.Float(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("cost_usd")
        batch.drop_column("completion_tokens")
        batch.drop_column("prompt_tokens")
        batch.drop_column("pending_input")
        batch.drop_column("limits")
    op.drop_index("ix_agent_versions_agent", table_name="agent_versions")
    op.drop_table("agent_versions")
    op.drop_index("ix_agents_category", table_name="agents")
    op.drop_index("ix_agents_owner", table_name="agents")
    op.drop_table("agents")
