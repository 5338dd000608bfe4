"""load-balancing moves and the critical path

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 20:05:47.393841

Load-balancing moves (undoable by a lead) and each task's place on the critical path.
Existing tasks start off the path; the next load or reschedule marks it.
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel
import models.db.types


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "moves",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("rule", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("from_agent_id", sa.Integer(), nullable=True),
        sa.Column("to_agent_id", sa.Integer(), nullable=True),
        sa.Column("from_stream_id", sa.Integer(), nullable=True),
        sa.Column("to_stream_id", sa.Integer(), nullable=True),
        sa.Column("old_position", sa.Integer(), nullable=True),
        sa.Column("old_not_before_ws", sa.Integer(), nullable=True),
        sa.Column("old_priority", sa.Integer(), nullable=True),
        sa.Column("new_priority", sa.Integer(), nullable=True),
        sa.Column("command", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("why", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("made_at", models.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("undone_at", models.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("undone_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
        ),
        sa.ForeignKeyConstraint(
            ["from_agent_id"],
            ["agents.id"],
        ),
        sa.ForeignKeyConstraint(
            ["from_stream_id"],
            ["streams.id"],
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["plans.id"],
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["tasks.id"],
        ),
        sa.ForeignKeyConstraint(
            ["to_agent_id"],
            ["agents.id"],
        ),
        sa.ForeignKeyConstraint(
            ["to_stream_id"],
            ["streams.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plan_id", "key"),
    )
    with op.batch_alter_table("moves", schema=None) as batch_op:
        batch_op.create_index("ix_moves_plan_status", ["plan_id", "status"], unique=False)

    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("critical", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("critical")

    with op.batch_alter_table("moves", schema=None) as batch_op:
        batch_op.drop_index("ix_moves_plan_status")

    op.drop_table("moves")
