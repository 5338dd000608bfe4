"""agents' own credentials, progress notes, idempotent writes

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 17:30:00

``agent_tokens``: an agent's API token, kept as its HMAC-SHA256 only, with when it was made, last used
and revoked. ``task_notes``: progress and artifacts an agent reports on a task. ``idempotent_requests``:
writes sent with an ``Idempotency-Key`` and the answer they got. ``agents.status_line``: what its last
heartbeat said. (``agents.api_token_hash`` stays, unused.)
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel

import models.db.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("status_line", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
    op.create_table(
        "agent_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", models.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("last_used_at", models.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", models.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("digest"),
    )
    op.create_index("ix_agent_tokens_agent_id", "agent_tokens", ["agent_id"], unique=False)
    op.create_table(
        "task_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("at", models.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("percent", sa.Integer(), nullable=True),
        sa.Column("links", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_task_notes_task_id", "task_notes", ["task_id"], unique=False)
    op.create_table(
        "idempotent_requests",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=250), nullable=False),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("at", models.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_idempotent_requests_at", "idempotent_requests", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_idempotent_requests_at", table_name="idempotent_requests")
    op.drop_table("idempotent_requests")
    op.drop_index("ix_task_notes_task_id", table_name="task_notes")
    op.drop_table("task_notes")
    op.drop_index("ix_agent_tokens_agent_id", table_name="agent_tokens")
    op.drop_table("agent_tokens")
    # Not in batch mode: on SQLite that copies `agents` and drops the old table, which the rows of the tables
    # that refer to it forbid (foreign keys on). SQLite drops a column itself since 3.35.
    op.drop_column("agents", "status_line")
