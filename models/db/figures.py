"""Running figures of the tasks, kept by the store itself.

- ``stream_figures``: per stream and status, how many tasks and the sums the dashboard
  adds up (estimates, time in each status, done and rework counts);
- ``agent_figures``: per agent, how many tasks in each status (the agent monitor);
- ``planned_points``: per stream and bucket of BUCKET_WS working seconds, how many
  tasks are planned to end in it and the sums of their planned starts and ends. Planned
  work by clock c is the planned work (due - start) of the tasks due by c: for the
  buckets wholly before c that is due_sum - start_sum; the few tasks due in c's own
  bucket are read on an index (models/views/dashboard.py).

Triggers on ``tasks`` add a row's share when it is inserted and take it off when it
is deleted; an update takes the old row's share off and adds the new one's. A trigger
runs inside the statement that wrote the task, so the figures change in the same
transaction as the task, whoever wrote it: a command, the loader's bulk insert, a
rule's bulk update, a migration. Archived tasks are not counted. ``status`` and
``health`` then read a few rows per stream and agent instead of every task (issue 21).

SQLite and PostgreSQL spell triggers differently; the statements that keep the
figures (``_keep``) are the same SQL on both.
"""

from dataclasses import dataclass

from sqlalchemy import Connection, text

# The statuses, as models.db.tables has them (this module is imported by it).
TASK_STATUSES = ("todo", "ready", "in-progress", "blocked", "done", "failed")

# One working day of 8 hours: c's own bucket holds about a day of each agent's starts.
BUCKET_WS = 8 * 3600


@dataclass(frozen=True)
class Kept:
    """One table of figures: its key, and what one task adds to each of its columns."""

    table: str
    key: dict[str, str]  # column -> the task's value ("{row}" is NEW or OLD)
    sums: dict[str, str]
    when: str = "TRUE"  # which tasks it counts (besides: not archived)

    def reads(self) -> set[str]:
        """The task columns it depends on: an update of any other fires no trigger."""
        return {
            word.split(".")[1]
            for expr in [*self.key.values(), *self.sums.values(), self.when]
            for word in expr.replace("(", " ").replace(")", " ").split()
            if word.startswith("{row}.")
        } | {"archived"}


def _sum(column: str) -> str:
    return "{row}." + column


STREAM = Kept(
    "stream_figures",
    key={"plan_id": _sum("plan_id"), "stream_id": _sum("stream_id"), "status": _sum("status")},
    sums={
        "tasks": "1",
        **{c: _sum(c) for c in ("estimate_ws", "since_ws", "active_ws", "blocked_ws", "done_count", "rework_count")},
    },
)
# One row per agent, a column per status: the monitor reads 600 rows, not 600 groups.
AGENT_COLUMNS = {status: status.replace("-", "_") for status in TASK_STATUSES}
AGENT = Kept(
    "agent_figures",
    key={"plan_id": _sum("plan_id"), "agent_id": _sum("agent_id")},
    sums={
        column: f"(CASE WHEN {{row}}.status = '{status}' THEN 1 ELSE 0 END)" for status, column in AGENT_COLUMNS.items()
    },
    when="{row}.agent_id IS NOT NULL",
)
# One share per task, in the bucket of its planned end: a task counts as planned-done once its
# planned due time has passed, its planned work being due - start (its estimate).
POINTS = [
    Kept(
        "planned_points",
        key={"stream_id": _sum("stream_id"), "bucket": f"{_sum('planned_due_ws')} / {BUCKET_WS}"},
        sums={
            "starts": "1",
            "start_sum": _sum("planned_start_ws"),
            "dues": "1",
            "due_sum": _sum("planned_due_ws"),
        },
    )
]
KEPT = [STREAM, AGENT, *POINTS]
PRIMARY_KEYS = {"stream_figures": "stream_id, status", "agent_figures": "agent_id"}


def _conflict_key(kept: Kept) -> str:
    return PRIMARY_KEYS.get(kept.table, ", ".join(k for k in kept.key if k != "plan_id"))


def _keep(kept: Kept, row: str, sign: str) -> str:
    """Add (sign "+") or take off (sign "-") one task's share: an upsert."""
    columns = [*kept.key, *kept.sums]
    values = [v.format(row=row) for v in kept.key.values()]
    values += [f"{sign}{v.format(row=row)}" if v != "0" else "0" for v in kept.sums.values()]
    updates = ", ".join(f"{c} = {kept.table}.{c} + excluded.{c}" for c in kept.sums)
    return (
        f"INSERT INTO {kept.table} ({', '.join(columns)}) SELECT {', '.join(values)} "
        f"WHERE NOT {row}.archived AND {kept.when.format(row=row)} "
        f"ON CONFLICT ({_conflict_key(kept)}) DO UPDATE SET {updates};"
    )


def _groups() -> dict[str, list[Kept]]:
    """The tables kept, by trigger name: the planned points move with the schedule, the
    figures with the status (so a status change fires one, a reschedule the other)."""
    return {"task_figures": [STREAM, AGENT], "planned_points": POINTS}


def _reads(group: list[Kept]) -> str:
    return ", ".join(sorted(set().union(*(k.reads() for k in group))))


def _both(group: list[Kept], row: str, sign: str) -> str:
    return " ".join(_keep(k, row, sign) for k in group)


def _sqlite_triggers() -> list[str]:
    statements = []
    for name, group in _groups().items():
        statements += [
            f"CREATE TRIGGER {name}_insert AFTER INSERT ON tasks BEGIN {_both(group, 'NEW', '+')} END",
            f"CREATE TRIGGER {name}_delete AFTER DELETE ON tasks BEGIN {_both(group, 'OLD', '-')} END",
            f"CREATE TRIGGER {name}_update AFTER UPDATE OF {_reads(group)} ON tasks "
            f"BEGIN {_both(group, 'OLD', '-')} {_both(group, 'NEW', '+')} END",
        ]
    return statements


def _postgresql_triggers() -> list[str]:
    statements = []
    for name, group in _groups().items():
        statements += [
            f"CREATE OR REPLACE FUNCTION keep_{name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF TG_OP <> 'INSERT' THEN {_both(group, 'OLD', '-')} END IF; "
            f"IF TG_OP <> 'DELETE' THEN {_both(group, 'NEW', '+')} END IF; "
            "RETURN NULL; END $$",
            f"CREATE TRIGGER {name}_keep AFTER INSERT OR DELETE OR UPDATE OF {_reads(group)} ON tasks "
            f"FOR EACH ROW EXECUTE FUNCTION keep_{name}()",
        ]
    return statements


def _drops(dialect: str) -> list[str]:
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {name}_{op}" for name in _groups() for op in ("insert", "delete", "update")]
    return [
        statement
        for name in _groups()
        for statement in (f"DROP TRIGGER IF EXISTS {name}_keep ON tasks", f"DROP FUNCTION IF EXISTS keep_{name}()")
    ]


def install_triggers(connection: Connection) -> None:
    """Create (or create again) the triggers that keep the figures."""
    drop_triggers(connection)
    dialect = connection.dialect.name
    for statement in _sqlite_triggers() if dialect == "sqlite" else _postgresql_triggers():
        connection.execute(text(statement))


def drop_triggers(connection: Connection) -> None:
    for statement in _drops(connection.dialect.name):
        connection.execute(text(statement))


def recount(connection: Connection) -> None:
    """Compute every figure again from the tasks: the migration's backfill."""
    for table in {k.table for k in KEPT}:
        connection.execute(text(f"DELETE FROM {table}"))
    for kept in KEPT:
        key = [v.format(row="tasks") for v in kept.key.values()]
        sums = [f"SUM({v.format(row='tasks')})" if v != "0" else "0" for v in kept.sums.values()]
        updates = ", ".join(f"{c} = {kept.table}.{c} + excluded.{c}" for c in kept.sums)
        connection.execute(
            text(
                f"INSERT INTO {kept.table} ({', '.join([*kept.key, *kept.sums])}) "
                f"SELECT {', '.join(key + sums)} FROM tasks "
                f"WHERE NOT archived AND {kept.when.format(row='tasks')} GROUP BY {', '.join(key)} "
                f"ON CONFLICT ({_conflict_key(kept)}) DO UPDATE SET {updates}"
            )
        )
