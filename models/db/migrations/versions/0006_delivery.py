"""nothing lost, nothing twice: accepted slash commands, early thread replies, a delivery's doubt window

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 06:00:00

``accepted_requests``: each slash command recorded before its ack, finished when answered, taken
over by another replica when its own died (bot/slash.py). ``early_replies``: thread replies that
came before their prompt's ts was recorded, attached once it is (bot/sync_listeners.py).
``alert_deliveries.doubt_since`` / ``doubt_until``: the span in which a post whose outcome is
unknown is looked for (it was kept in ``last_error``'s text); rows in doubt are carried over.
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel

import models.db.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

IN_DOUBT = "in doubt since "  # how 0004's rows said it, in last_error


def upgrade() -> None:
    op.create_table(
        "accepted_requests",
        sa.Column("request_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("accepted_at", models.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("lease_until", models.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("finished_at", models.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("request_id"),
    )
    op.create_index("ix_accepted_requests_open", "accepted_requests", ["finished_at", "lease_until"], unique=False)
    op.create_table(
        "early_replies",
        sa.Column("request_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("thread_ts", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("event", sa.JSON(), nullable=False),
        sa.Column("received_at", models.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("request_id"),
    )
    op.create_index("ix_early_replies_thread", "early_replies", ["channel", "thread_ts"], unique=False)
    with op.batch_alter_table("alert_deliveries") as batch:
        batch.add_column(sa.Column("doubt_since", models.db.types.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("doubt_until", models.db.types.UTCDateTime(timezone=True), nullable=True))
    # A row in doubt under 0004 (its window in last_error's text; a few at most, in flight at the
    # upgrade) is left as a worker's that stopped: looked for over its last lease, else sent again.
    deliveries = sa.table("alert_deliveries", sa.column("last_error", sa.String()))
    op.execute(deliveries.update().where(deliveries.c.last_error.like(IN_DOUBT + "%")).values(last_error=None))


def downgrade() -> None:
    with op.batch_alter_table("alert_deliveries") as batch:
        batch.drop_column("doubt_until")
        batch.drop_column("doubt_since")
    op.drop_index("ix_early_replies_thread", table_name="early_replies")
    op.drop_table("early_replies")
    op.drop_index("ix_accepted_requests_open", table_name="accepted_requests")
    op.drop_table("accepted_requests")
