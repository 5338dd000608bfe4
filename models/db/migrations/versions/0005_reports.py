"""blockers followed across days (issue 20)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 06:30:00

``blockers``: a blocker named in a sync answer, linked to its task, reminded to its owner each working day
and escalated to the leads until it is closed.
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel

from models.db.types import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blockers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("slot_id", sa.Integer(), nullable=True),
        sa.Column("raised_at", UTCDateTime(), nullable=False),
        sa.Column("reminded_on", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
        sa.Column("reminders", sa.Integer(), nullable=False),
        sa.Column("escalated_at", UTCDateTime(), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("closed_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("close_reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"]),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"]),
        sa.ForeignKeyConstraint(["slot_id"], ["sync_slots.id"]),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plan_id", "key"),
    )
    op.create_index("ix_blockers_plan_closed", "blockers", ["plan_id", "closed_at"])


def downgrade() -> None:
    op.drop_index("ix_blockers_plan_closed", table_name="blockers")
    op.drop_table("blockers")
