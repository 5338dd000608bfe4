"""running figures of the tasks, kept by triggers

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 01:30:00

``stream_figures`` (per stream and status: the count and sums of the tasks, their
estimates, time in each status, done and rework counts), ``agent_figures`` (per
agent: the count in each status) and ``planned_points`` (the planned windows, bucketed
per stream), kept by triggers on ``tasks`` in the transaction of each change
(models/db/figures.py), so that
``status`` and ``health`` no longer add up every task (issue 21). Stored plans are
backfilled from their tasks. Partial indexes give the dashboard each stream's
earliest due unfinished task and its last due task with one index seek.
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel

from models.db.figures import drop_triggers, install_triggers, recount

OPEN_TASK = "status <> 'done'"  # as models.db.tables.OPEN_TASK, written here as it was


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stream_figures",
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("stream_id", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("tasks", sa.Integer(), nullable=False),
        sa.Column("estimate_ws", sa.BigInteger(), nullable=False),
        sa.Column("since_ws", sa.BigInteger(), nullable=False),
        sa.Column("active_ws", sa.BigInteger(), nullable=False),
        sa.Column("blocked_ws", sa.BigInteger(), nullable=False),
        sa.Column("done_count", sa.Integer(), nullable=False),
        sa.Column("rework_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("stream_id", "status"),
    )
    op.create_index(op.f("ix_stream_figures_plan_id"), "stream_figures", ["plan_id"], unique=False)
    op.create_table(
        "agent_figures",
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), autoincrement=False, nullable=False),
        *[
            sa.Column(c, sa.Integer(), nullable=False)
            for c in ("todo", "ready", "in_progress", "blocked", "done", "failed")
        ],
        sa.PrimaryKeyConstraint("agent_id"),
    )
    op.create_index(op.f("ix_agent_figures_plan_id"), "agent_figures", ["plan_id"], unique=False)
    op.create_table(
        "planned_points",
        sa.Column("stream_id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("starts", sa.Integer(), nullable=False),
        sa.Column("start_sum", sa.BigInteger(), nullable=False),
        sa.Column("dues", sa.Integer(), nullable=False),
        sa.Column("due_sum", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("stream_id", "bucket"),
    )
    op.drop_index("ix_tasks_stream", table_name="tasks")
    op.create_index("ix_tasks_stream_due", "tasks", ["stream_id", "archived", "planned_due_ws"])
    op.create_index(
        "ix_tasks_open_due",
        "tasks",
        ["stream_id", "archived", "planned_due_ws"],
        sqlite_where=sa.text(OPEN_TASK),
        postgresql_where=sa.text(OPEN_TASK),
    )
    op.create_index("ix_tasks_stream_start", "tasks", ["stream_id", "archived", "planned_start_ws"])
    connection = op.get_bind()
    install_triggers(connection)
    recount(connection)


def downgrade() -> None:
    drop_triggers(op.get_bind())
    for name in ("ix_tasks_stream_start", "ix_tasks_open_due", "ix_tasks_stream_due"):
        op.drop_index(name, table_name="tasks")
    op.create_index("ix_tasks_stream", "tasks", ["stream_id"])
    for table in ("stream_figures", "agent_figures"):
        op.drop_index(op.f(f"ix_{table}_plan_id"), table_name=table)
        op.drop_table(table)
    op.drop_table("planned_points")
