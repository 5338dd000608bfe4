"""one look at a time: the turns of the Slack methods rationed app-wide

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 17:00:00

``rationed_turns``: when the next call of a method Slack allows the app only so often (today
``conversations.history``, one a minute) may be made; the replicas take turns through it
(models/state/turns.py); ``reserved_for``: who was refused first, whose the next turn is.
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel

import models.db.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rationed_turns",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("opens_at", models.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reserved_for", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("rationed_turns")
