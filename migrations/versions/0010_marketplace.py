"""marketplace: packages, their immutable versions, installs per team and reviews.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "marketplace_packages",
        sa.Column("name", sa.String(length=64), primary_key=True),
        sa.Column("team_id", sa.String(length=64), nullable=False),
        sa.Column("publisher", sa.String(length=128), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("latest", sa.String(length=64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_index("ix_marketplace_packages_team_id", "marketplace_packages", ["team_id"])
    op.create_index("ix_marketplace_packages_category", "marketplace_packages", ["category"])
    op.create_table(
        "marketplace_package_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("team_id", sa.String(length=64), nullable=False),
        sa.Column("package", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("agents", sa.JSON(), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("readme", sa.Text(), nullable=False),
        sa.Column("archive", sa.LargeBinary(), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("scan_report", sa.JSON(), nullable=False),
        sa.Column("quality", sa.Float(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=True),
        sa.Column("public_key", sa.Text(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("package", "version", name="uq_package_versions"),
    )
    op.create_index(
        "ix_marketplace_package_versions_team_id", "marketplace_package_versions", ["team_id"]
    )
    op.create_index(
        "ix_marketplace_package_versions_package", "marketplace_package_versions", ["package"]
    )
    op.create_table(
        "marketplace_installs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("team_id", sa.String(length=64), nullable=False),
        sa.Column("package", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("direct", sa.Boolean(), nullable=False),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("agents", sa.JSON(), nullable=False),
        sa.Column("lockfile", sa.JSON(), nullable=False),
        sa.Column("accepted_permissions", sa.JSON(), nullable=False),
        sa.Column("installed_by", sa.String(length=128), nullable=False),
        sa.Column("installed_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("uninstalled_at", TZ, nullable=True),
    )
    op.create_index("ix_marketplace_installs_package", "marketplace_installs", ["package"])
    op.create_index(
        "ix_marketplace_installs_installed_at", "marketplace_installs", ["installed_at"]
    )
    op.create_index(
        "ix_marketplace_installs_team_package", "marketplace_installs", ["team_id", "package"]
    )
    op.create_table(
        "marketplace_reviews",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("team_id", sa.String(length=64), nullable=False),
        sa.Column("package", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("author", sa.String(length=128), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("stars", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("replied_at", TZ, nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.UniqueConstraint("package", "user_id", name="uq_reviews_package_user"),
    )
    op.create_index("ix_marketplace_reviews_team_id", "marketplace_reviews", ["team_id"])
    op.create_index("ix_marketplace_reviews_package", "marketplace_reviews", ["package"])


def downgrade() -> None:
    op.drop_table("marketplace_reviews")
    op.drop_table("marketplace_installs")
    op.drop_table("marketplace_package_versions")
    op.drop_table("marketplace_packages")
