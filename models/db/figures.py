"""Running figures of the tasks, kept by the store itself.

``task_figures`` holds, per stream, agent and status, how many tasks there are and
the sums the dashboard and the agent monitor add up (estimates, time in each status,
done and rework counts). Triggers on ``tasks`` add a row's figures when it is
inserted and take them off when it is deleted; an update takes the old row's off and
adds the new one's. A trigger runs inside the statement that wrote the task, so the
figures change in the same transaction as the task, whoever wrote it: a command, the
loader's bulk insert, a rule's bulk update, or a migration. Archived tasks are not
counted. ``status`` and ``health`` then sum a few rows per stream and agent instead of
every task (issue 21).

SQLite and PostgreSQL spell triggers differently; the statement that keeps the
figures (``_add``) is the same SQL on both.
"""

from sqlalchemy import Connection, text

# task_figures column -> what one task adds to it (``{row}`` is NEW or OLD).
SUMS = {
    "tasks": "1",
    "estimate_ws": "{row}.estimate_ws",
    "since_ws": "{row}.since_ws",
    "active_ws": "{row}.active_ws",
    "blocked_ws": "{row}.blocked_ws",
    "done_count": "{row}.done_count",
    "rework_count": "{row}.rework_count",
}
# The task columns the figures read: an update of any other column (a planned window,
# a title) leaves them alone and fires no trigger.
READ = ("plan_id", "stream_id", "agent_id", "status", "archived", *[c for c in SUMS if c != "tasks"])
NO_AGENT = 0  # the agent_id of tasks no agent holds (a key column cannot be NULL)


def _add(row: str, sign: str) -> str:
    """Add (sign "+") or take off (sign "-") one task's figures: an upsert."""
    columns = ", ".join(SUMS)
    values = ", ".join(f"{sign}{expr.format(row=row)}" for expr in SUMS.values())
    updates = ", ".join(f"{c} = task_figures.{c} + excluded.{c}" for c in SUMS)
    return (
        f"INSERT INTO task_figures (plan_id, stream_id, agent_id, status, {columns}) "
        f"SELECT {row}.plan_id, {row}.stream_id, COALESCE({row}.agent_id, {NO_AGENT}), {row}.status, {values} "
        f"WHERE NOT {row}.archived "
        f"ON CONFLICT (stream_id, agent_id, status) DO UPDATE SET {updates};"
    )


def _sqlite_triggers() -> list[str]:
    read = ", ".join(READ)
    return [
        f"CREATE TRIGGER task_figures_insert AFTER INSERT ON tasks BEGIN {_add('NEW', '+')} END",
        f"CREATE TRIGGER task_figures_delete AFTER DELETE ON tasks BEGIN {_add('OLD', '-')} END",
        f"CREATE TRIGGER task_figures_update AFTER UPDATE OF {read} ON tasks "
        f"BEGIN {_add('OLD', '-')} {_add('NEW', '+')} END",
    ]


def _postgresql_triggers() -> list[str]:
    return [
        "CREATE OR REPLACE FUNCTION keep_task_figures() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF TG_OP <> 'INSERT' THEN {_add('OLD', '-')} END IF; "
        f"IF TG_OP <> 'DELETE' THEN {_add('NEW', '+')} END IF; "
        "RETURN NULL; END $$",
        f"CREATE TRIGGER task_figures_keep AFTER INSERT OR DELETE OR UPDATE OF {', '.join(READ)} ON tasks "
        "FOR EACH ROW EXECUTE FUNCTION keep_task_figures()",
    ]


DROP = {
    "sqlite": [f"DROP TRIGGER IF EXISTS task_figures_{op}" for op in ("insert", "delete", "update")],
    "postgresql": [
        "DROP TRIGGER IF EXISTS task_figures_keep ON tasks",
        "DROP FUNCTION IF EXISTS keep_task_figures()",
    ],
}


def install_triggers(connection: Connection) -> None:
    """Create (or create again) the triggers that keep ``task_figures``."""
    drop_triggers(connection)
    dialect = connection.dialect.name
    statements = _sqlite_triggers() if dialect == "sqlite" else _postgresql_triggers()
    for statement in statements:
        connection.execute(text(statement))


def drop_triggers(connection: Connection) -> None:
    for statement in DROP[connection.dialect.name]:
        connection.execute(text(statement))


def recount(connection: Connection) -> None:
    """Compute every figure again from the tasks (the migration's backfill)."""
    sums = ", ".join(
        "COUNT(*)" if c == "tasks" else f"COALESCE(SUM({expr.format(row='tasks')}), 0)" for c, expr in SUMS.items()
    )
    connection.execute(text("DELETE FROM task_figures"))
    connection.execute(
        text(
            f"INSERT INTO task_figures (plan_id, stream_id, agent_id, status, {', '.join(SUMS)}) "
            f"SELECT plan_id, stream_id, COALESCE(agent_id, {NO_AGENT}), status, {sums} FROM tasks "
            f"WHERE NOT archived GROUP BY plan_id, stream_id, COALESCE(agent_id, {NO_AGENT}), status"
        )
    )
