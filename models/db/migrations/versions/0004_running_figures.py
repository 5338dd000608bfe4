"""running figures of the tasks, kept by triggers

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 01:30:00

``task_figures``: per stream, agent and status, the count and sums of the tasks
(estimates, time in each status, done and rework counts), kept by triggers on
``tasks`` in the transaction of each change (models/db/figures.py), so that
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
        "task_figures",
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("stream_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("tasks", sa.Integer(), nullable=False),
        sa.Column("estimate_ws", sa.BigInteger(), nullable=False),
        sa.Column("since_ws", sa.BigInteger(), nullable=False),
        sa.Column("active_ws", sa.BigInteger(), nullable=False),
        sa.Column("blocked_ws", sa.BigInteger(), nullable=False),
        sa.Column("done_count", sa.Integer(), nullable=False),
        sa.Column("rework_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("stream_id", "agent_id", "status"),
    )
    op.create_index(op.f("ix_task_figures_plan_id"), "task_figures", ["plan_id"], unique=False)
    op.drop_index("ix_tasks_stream", table_name="tasks")
    op.create_index("ix_tasks_stream_due", "tasks", ["stream_id", "archived", "planned_due_ws"])
    op.create_index(
        "ix_tasks_open_due",
        "tasks",
        ["stream_id", "archived", "planned_due_ws"],
        sqlite_where=sa.text(OPEN_TASK),
        postgresql_where=sa.text(OPEN_TASK),
    )
    op.create_index("ix_tasks_stream_start", "tasks", ["stream_id", "archived", "planned_start_ws", "estimate_ws"])
    connection = op.get_bind()
    install_triggers(connection)
    recount(connection)


def downgrade() -> None:
    drop_triggers(op.get_bind())
    for name in ("ix_tasks_stream_start", "ix_tasks_open_due", "ix_tasks_stream_due"):
        op.drop_index(name, table_name="tasks")
    op.create_index("ix_tasks_stream", "tasks", ["stream_id"])
    op.drop_index(op.f("ix_task_figures_plan_id"), table_name="task_figures")
    op.drop_table("task_figures")
