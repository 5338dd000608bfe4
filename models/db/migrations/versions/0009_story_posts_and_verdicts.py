"""the digest's and the retrospective's posts, and the leads' verdicts on success criteria

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 17:30:00

``story_posts``: where a weekly digest or a retrospective landed (and the range it told), so that a post
whose answer was lost is looked for, not sent twice, and the retrospective is edited in place.
``criterion_verdicts``: a lead's Met / Not met on a success criterion no metric judges.
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel

from models.db.types import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "story_posts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("first_day", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("last_day", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("ending", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=True),
        sa.Column("ts", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=True),
        sa.Column("posted_at", UTCDateTime(), nullable=True),
        sa.Column("redraw", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plan_id", "action"),
    )
    op.create_table(
        "criterion_verdicts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("stream", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("met", sa.Boolean(), nullable=False),
        sa.Column("by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("slack_user", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plan_id", "stream"),
    )


def downgrade() -> None:
    op.drop_table("criterion_verdicts")
    op.drop_table("story_posts")
