"""teams, users, team members; API keys get a team, a user, scopes and an expiry; team_id on
tasks, artifacts, agents and audit events. Existing data moves into the team `default`.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 22:50:00
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.func.now()
# Kept in step with cape.teams.DEFAULT_TEAM_ID (a migration never imports moving code).
DEFAULT_TEAM_ID = "team_default"
ALL_SCOPES = ["tasks:read", "tasks:write", "agents:write", "admin"]


def upgrade() -> None:
    _create_tables()
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("team_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("user_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("scopes", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    for table in ("tasks", "artifacts", "agents", "audit_events"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("team_id", sa.String(length=64), nullable=True))
    _move_into_default_team()
    with op.batch_alter_table("api_keys") as batch:
        batch.alter_column("team_id", existing_type=sa.String(length=64), nullable=False)
        batch.alter_column("user_id", existing_type=sa.String(length=64), nullable=False)
        batch.alter_column("scopes", existing_type=sa.JSON(), nullable=False)
        batch.create_foreign_key(
            "fk_api_keys_team_id_teams", "teams", ["team_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_foreign_key(
            "fk_api_keys_user_id_users", "users", ["user_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_index("ix_api_keys_team_id", ["team_id"])
        batch.create_index("ix_api_keys_user_id", ["user_id"])
    with op.batch_alter_table("tasks") as batch:
        batch.alter_column("team_id", existing_type=sa.String(length=64), nullable=False)
        batch.drop_constraint("uq_tasks_owner_idempotency_key", type_="unique")
        batch.create_unique_constraint(
            "uq_tasks_team_idempotency_key", ["team_id", "idempotency_key"]
        )
        batch.drop_index("ix_tasks_owner_created")
        batch.create_index("ix_tasks_team_created", ["team_id", "created_at", "id"])
        batch.create_index("ix_tasks_team_id", ["team_id"])
    with op.batch_alter_table("artifacts") as batch:
        batch.alter_column("team_id", existing_type=sa.String(length=64), nullable=False)
        batch.create_index("ix_artifacts_team_id", ["team_id"])
    for table in ("agents", "audit_events"):
        with op.batch_alter_table(table) as batch:
            batch.create_index(f"ix_{table}_team_id", ["team_id"])


def _create_tables() -> None:
    op.create_table(
        "teams",
        sa.Column("id", sa.String(length=64), primary_key=True),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("slug"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=64), primary_key=True),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("email", sa.String(length=256), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "team_members",
        sa.Column(
            "team_id",
            sa.String(length=64),
            sa.ForeignKey("teams.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "user_id",
            sa.String(length=64),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_index("ix_team_members_user_id", "team_members", ["user_id"])


def _move_into_default_team() -> None:
    """Every existing row joins the team `default`; each key owner becomes its owner-role member.

    Nothing is created on an empty database: the first team is made by `cape keys create` or
    `cape dev`.
    """
    bind = op.get_bind()
    owners: set[str] = set()
    for table in ("api_keys", "tasks"):
        owners |= {row[0] for row in bind.execute(sa.text(f"SELECT DISTINCT owner FROM {table}"))}
    user_agents = bind.execute(
        sa.text("SELECT COUNT(*) FROM agents WHERE builtin = :f"), {"f": False}
    )
    if not owners and not user_agents.scalar():
        return
    now = datetime.now(UTC)
    teams = sa.table(
        "teams", sa.column("id"), sa.column("slug"), sa.column("name"), sa.column("created_at")
    )
    users = sa.table("users", sa.column("id"), sa.column("name"), sa.column("created_at"))
    members = sa.table(
        "team_members",
        sa.column("team_id"), sa.column("user_id"), sa.column("role"), sa.column("created_at"),
    )  # fmt: skip
    op.bulk_insert(
        teams, [{"id": DEFAULT_TEAM_ID, "slug": "default", "name": "Default", "created_at": now}]
    )
    ids = {owner: f"user_{uuid.uuid4().hex}" for owner in sorted(owners)}
    op.bulk_insert(users, [{"id": i, "name": o, "created_at": now} for o, i in ids.items()])
    op.bulk_insert(
        members,
        [{"team_id": DEFAULT_TEAM_ID, "user_id": i, "role": "owner", "created_at": now}
         for i in ids.values()],
    )  # fmt: skip
    keys = sa.table(
        "api_keys", sa.column("owner"), sa.column("team_id"), sa.column("user_id"),
        sa.column("scopes", sa.JSON()),
    )  # fmt: skip
    for owner, user_id in ids.items():
        bind.execute(
            keys.update()
            .where(keys.c.owner == owner)
            .values(team_id=DEFAULT_TEAM_ID, user_id=user_id, scopes=ALL_SCOPES)
        )
    team = {"team": DEFAULT_TEAM_ID}
    bind.execute(sa.text("UPDATE tasks SET team_id = :team"), team)
    _split_shared_idempotency_keys(bind)
    bind.execute(
        sa.text(
            "UPDATE artifacts SET team_id = (SELECT tasks.team_id FROM tasks"
            " WHERE tasks.id = artifacts.task_id)"
        )
    )
    bind.execute(
        sa.text("UPDATE agents SET team_id = :team WHERE builtin = :f"), {**team, "f": False}
    )
    bind.execute(sa.text("UPDATE audit_events SET team_id = :team WHERE actor <> 'system'"), team)


def _split_shared_idempotency_keys(bind: sa.Connection) -> None:
    """Keys were unique per owner and are now unique per team: where owners shared one, each
    task's key becomes `owner:key` (a retry with the old key then starts a new task)."""
    shared = bind.execute(
        sa.text(
            "SELECT idempotency_key FROM tasks WHERE idempotency_key IS NOT NULL"
            " GROUP BY idempotency_key HAVING COUNT(*) > 1"
        )
    ).all()
    for (key,) in shared:
        rows = bind.execute(
            sa.text("SELECT id, owner FROM tasks WHERE idempotency_key = :key"), {"key": key}
        ).all()
        for task_id, owner in rows:
            bind.execute(
                sa.text("UPDATE tasks SET idempotency_key = :new WHERE id = :id"),
                {"new": f"{owner}:{key}"[:256], "id": task_id},
            )


def downgrade() -> None:
    for table in ("agents", "audit_events"):
        with op.batch_alter_table(table) as batch:
            batch.drop_index(f"ix_{table}_team_id")
            batch.drop_column("team_id")
    with op.batch_alter_table("artifacts") as batch:
        batch.drop_index("ix_artifacts_team_id")
        batch.drop_column("team_id")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_index("ix_tasks_team_id")
        batch.drop_index("ix_tasks_team_created")
        batch.create_index("ix_tasks_owner_created", ["owner", "created_at", "id"])
        batch.drop_constraint("uq_tasks_team_idempotency_key", type_="unique")
        batch.create_unique_constraint(
            "uq_tasks_owner_idempotency_key", ["owner", "idempotency_key"]
        )
        batch.drop_column("team_id")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_index("ix_api_keys_user_id")
        batch.drop_index("ix_api_keys_team_id")
        batch.drop_constraint("fk_api_keys_user_id_users", type_="foreignkey")
        batch.drop_constraint("fk_api_keys_team_id_teams", type_="foreignkey")
        batch.drop_column("expires_at")
        batch.drop_column("scopes")
        batch.drop_column("user_id")
        batch.drop_column("team_id")
    op.drop_index("ix_team_members_user_id", table_name="team_members")
    op.drop_table("team_members")
    op.drop_table("users")
    op.drop_table("teams")
