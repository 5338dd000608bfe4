"""planned progress counts a task once its planned due time has passed; people and time

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 06:00:00

``planned_points`` now buckets each task once, by its planned end (models/db/figures.py):
the triggers are installed again and the figures counted again from the tasks.
``time_off`` keeps who is away (``away``/``back``), ``slack_zones`` the time zones Slack gave,
``held_reminders`` the reminders held outside their recipient's hours.
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel

from models.db.types import UTCDateTime

from models.db.figures import install_triggers, recount

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "time_off",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("who", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("starts_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("until", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("set_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_time_off_plan_who", "time_off", ["plan_id", "who"])
    op.create_table(
        "slack_zones",
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("fetched_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "held_reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slot_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("deliver_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"]),
        sa.ForeignKeyConstraint(["slot_id"], ["sync_slots.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_held_reminders_due", "held_reminders", ["sent_at", "deliver_at"])
    connection = op.get_bind()
    install_triggers(connection)
    recount(connection)


def downgrade() -> None:
    op.drop_index("ix_held_reminders_due", table_name="held_reminders")
    op.drop_table("held_reminders")
    op.drop_table("slack_zones")
    op.drop_index("ix_time_off_plan_who", table_name="time_off")
    op.drop_table("time_off")
    # The old bucketing (by start and by end) is not rebuilt: planned progress read with these
    # rows by an older release would count each task by its end only.
    pass
