"""The core's benchmark: plan load, dashboard latency, statements per command.

Run with `make bench` (from the repository root). Everything goes through the
real command path (`commands.core.dispatch.execute`), on a fresh SQLite file whose
schema Alembic creates, as the CLI does. Two stores are measured side by
side: the example plan (6 agents, 24 tasks) and a generated large plan
(60 streams, 600 agents, 24,000 tasks). The number of SQL statements a read
command runs must not depend on the plan's size, so it is counted at both.

Then, each in its own module and beside a bare baseline measured in the same run:
- bench/http_bench.py: `status`, `health` and `pause` over HTTP against a bare
  Bolt app, at 1 and 16 senders, on both plans; `serve`'s resident memory;
- bench/fanout.py: 200 plans' sync prompts due at one minute;
- bench/alerts_bench.py: 1,000 alerts delivered to 10 Slack channels;
- bench/history_bench.py: `report` over the large plan's history, and exports' peak memory.

Prints the figures and writes bench/RESULTS.md. This is a script, not a test:
a missed target is reported, never raised.
"""

import os
import platform
import random
import statistics
import sys
import tempfile
import time
from bisect import bisect_right
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `python bench/run.py` puts bench/, not the root, on the path

from sqlalchemy import bindparam, event, insert, update  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from bench.generate import PLAN_ID as LARGE_PLAN_ID  # noqa: E402
from bench.generate import write_plan  # noqa: E402
from bench.report import Row, ms, pair_ms, print_rows, table, targets_table, verdict  # noqa: E402
from bench.targets import target_rows  # noqa: E402
from commands.core.context import Actor  # noqa: E402
from commands.core.dispatch import Invocation, execute  # noqa: E402
from models.db.store import make_engine, upgrade  # noqa: E402
from models.db.tables import (  # noqa: E402
    Agent,
    Heartbeat,
    Plan,
    Stream,
    SyncAnswer,
    SyncSlot,
    Task,
    TaskEvent,
)
from models.plan.settings import calendar_of, plan_clock, settings_of  # noqa: E402
from models.rules.tick import PLAN_STEPS, run_step  # noqa: E402
from models.time.calendar import WorkCalendar  # noqa: E402

EXAMPLE_PLAN = ROOT / "models" / "example_plans" / "TR-ORCH-001.yml"
EXAMPLE_PLAN_ID = "TR-ORCH-001"
RESULTS = ROOT / "bench" / "RESULTS.md"

OPERATOR = Actor(id="cli:bench", name="bench", source="cli", operator=True)
# Monday 5 January 2026, 09:00 in Paris: both plans start at their first working hour.
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
ELAPSED = 0.30  # the dashboard is read 30% of the way through the plan

LOAD_TARGET_S = 10.0
STATUS_P99_TARGET_MS = 100.0  # the issue's p99 target; over HTTP in bench/http_bench.py, here in-process
STATUS_STATEMENTS_TARGET = 10
STATUS_WARMUP, STATUS_RUNS = 5, 50
HEALTH_RUNS = 20
TICK_RUNS = 10


# --- running commands ---------------------------------------------------------


@dataclass
class Store:
    """A fresh SQLite file with the schema made by Alembic, and a clock."""

    engine: object
    plan_key: str
    now: datetime = START

    def run(self, line: list[str]):
        return execute(self.engine, line, Invocation(actor=OPERATOR, front="cli"), now=self.now)


def open_store(directory: Path, plan_key: str) -> Store:
    engine = make_engine(f"sqlite:///{directory / 'bench.db'}")
    upgrade(engine)  # through Alembic, as `orchestrate db upgrade` / the CLI do
    return Store(engine, plan_key)


@contextmanager
def counting_statements(engine):
    """Counts every statement sent to the database while the block runs."""
    seen: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


def timed(store: Store, line: list[str]) -> float:
    """Seconds one command takes, end to end through execute()."""
    began = time.perf_counter()
    store.run(line)
    return time.perf_counter() - began


def latencies_ms(store: Store, line: list[str], runs: int, warmup: int) -> list[float]:
    for _ in range(warmup):  # the first runs compile and cache the SQL
        store.run(line)
    return [1000 * timed(store, line) for _ in range(runs)]


def percentile(samples: list[float], pct: int) -> float:
    """Interpolated percentile (statistics' inclusive method): p99 of 50 lies between the top two."""
    return statistics.quantiles(samples, n=100, method="inclusive")[pct - 1]


def count_statements(store: Store, line: list[str]) -> int:
    with counting_statements(store.engine) as seen:
        store.run(line)
    return len(seen)


# --- moving the plan along -------------------------------------------------------


class WorkTime:
    """Plan clock (working seconds) → instant, without walking the calendar each time."""

    def __init__(self, calendar: WorkCalendar, start: datetime, horizon_days: int = 400):
        self.offsets, self.opens = [], []
        total, day = 0, calendar.local_date(start)
        for _ in range(horizon_days):
            if calendar.is_working_day(day):
                opens, closes = calendar.window(day)
                opens = max(opens, start)
                if closes > opens:
                    self.offsets.append(total)
                    self.opens.append(opens)
                    total += int((closes - opens).total_seconds())
            day += timedelta(days=1)

    def at(self, ws: int) -> datetime:
        index = max(bisect_right(self.offsets, ws) - 1, 0)
        return (self.opens[index] + timedelta(seconds=ws - self.offsets[index])).astimezone(UTC)


def reading_time(engine, plan_key: str, start: datetime = START) -> datetime:
    """The instant ELAPSED of the way through the plan's working days, for a plan started at ``start``."""
    with Session(engine) as session:
        plan = session.exec(select(Plan).where(Plan.key == plan_key)).one()
        calendar = calendar_of(plan)
        return calendar.add_working(start, ELAPSED * settings_of(plan).duration_days * calendar.day_s)


@dataclass
class Moves:
    """The rows to write: task updates and their history."""

    updates: list[dict] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)
    agents: list[dict] = field(default_factory=list)  # each agent's busy clock


def move_tasks(engine, plan_key: str, now: datetime, seed: int = 11) -> dict[str, int]:
    """Play the plan forward to ``now`` with SQL, as if agents had worked it.

    Each stream goes at its own pace (some ahead, some behind); each agent
    finishes its queue back to back, then has one task in progress, blocked,
    or none (idle). Rows stay consistent with models/state/: status,
    since_ws, active/blocked time, done/rework counts, timestamps, and one
    task_events row per change. Waiting (`todo`) tasks are left alone.
    """
    rng = random.Random(seed)
    with Session(engine) as session:
        plan = session.exec(select(Plan).where(Plan.key == plan_key)).one()
        calendar = calendar_of(plan)
        w_now = plan_clock(plan, now)
        clock = WorkTime(calendar, plan.started_at)
        pace = {sid: rng.uniform(0.75, 1.2) for sid in session.exec(select(Stream.id).where(Stream.plan_id == plan.id))}
        rows = session.exec(
            select(Task.id, Task.stream_id, Task.agent_id, Task.status, Task.estimate_ws, Task.planned_due_ws)
            .where(Task.plan_id == plan.id, Task.archived.is_(False))
            .order_by(Task.agent_id, Task.position, Task.id)
        ).all()
        moves = Moves()
        by_agent: dict[int, list] = {}
        for row in rows:
            by_agent.setdefault(row.agent_id, []).append(row)
        for queue in by_agent.values():
            _work_queue(queue, pace[queue[0].stream_id] * rng.uniform(0.9, 1.1), w_now, clock, rng, moves)
        _write_moves(session, moves)
        session.commit()
    tally: dict[str, int] = {}
    for u in moves.updates:
        tally[u["new_status"]] = tally.get(u["new_status"], 0) + 1
    return tally


def _work_queue(queue, pace: float, w_now: int, clock: WorkTime, rng: random.Random, moves: Moves) -> None:
    """One agent: done tasks back to back, then one in progress / blocked / nothing."""
    finished_ws = 0
    busy = {"agent_id": queue[0].agent_id, "in_progress": 0, "busy_ws": 0, "busy_since_ws": None}
    moves.agents.append(busy)
    for task in queue:
        if task.status != "ready":
            continue  # waits for a coordination action: not startable yet
        done_ws = int(task.planned_due_ws / pace)
        if done_ws <= w_now:
            active = max(done_ws - finished_ws, 0)
            rework = rng.random() < 0.04
            _record(
                moves,
                task,
                "done",
                since=done_ws,
                active=active,
                blocked=0,
                started=clock.at(done_ws - active),
                changed=clock.at(done_ws),
                done_count=2 if rework else 1,
                rework=int(rework),
            )
            busy["busy_ws"] += active  # one task at a time: its busy time is the tasks' time
            finished_ws = done_ws
            continue
        roll = rng.random()
        if roll < 0.80:
            _record(
                moves,
                task,
                "in-progress",
                since=finished_ws,
                active=0,
                blocked=0,
                started=clock.at(finished_ws),
                changed=clock.at(finished_ws),
            )
            busy.update(in_progress=1, busy_since_ws=finished_ws)
        elif roll < 0.90:
            blocked_since = max(finished_ws, w_now - rng.randint(1800, 6 * 3600))
            busy["busy_ws"] += blocked_since - finished_ws
            _record(
                moves,
                task,
                "blocked",
                since=blocked_since,
                active=blocked_since - finished_ws,
                blocked=0,
                started=clock.at(finished_ws),
                changed=clock.at(blocked_since),
                reason=rng.choice(["waiting for API contract", "flaky staging", "needs design review"]),
            )
        break  # the rest of the queue is still ready


def _record(
    moves: Moves,
    task,
    status: str,
    *,
    since: int,
    active: int,
    blocked: int,
    started: datetime,
    changed: datetime,
    done_count: int = 0,
    rework: int = 0,
    reason: str | None = None,
) -> None:
    moves.updates.append(
        {
            "task_id": task.id,
            "new_status": status,
            "since": since,
            "active": active,
            "blocked": blocked,
            "started": started,
            "done_at": changed if status == "done" else None,
            "changed": changed,
            "done_count": done_count,
            "rework": rework,
            "reason": reason,
        }
    )
    moves.history.append(
        dict(task_id=task.id, at=started, from_status="ready", to_status="in-progress", actor="bench", reason=None)
    )
    if rework:  # done once, reopened, started again: the history a rework leaves
        middle = started + (changed - started) / 2
        moves.history += [
            dict(task_id=task.id, at=middle, from_status=a, to_status=b, actor="bench", reason=None)
            for a, b in (("in-progress", "done"), ("done", "ready"), ("ready", "in-progress"))
        ]
    if status != "in-progress":
        moves.history.append(
            dict(task_id=task.id, at=changed, from_status="in-progress", to_status=status, actor="bench", reason=reason)
        )


def _write_moves(session: Session, moves: Moves) -> None:
    table = Task.__table__
    if moves.updates:  # one executemany, as models.plan.schedule.reschedule does
        session.connection().execute(
            update(table)
            .where(table.c.id == bindparam("task_id"))
            .values(
                status=bindparam("new_status"),
                since_ws=bindparam("since"),
                active_ws=bindparam("active"),
                blocked_ws=bindparam("blocked"),
                started_at=bindparam("started"),
                done_at=bindparam("done_at"),
                status_changed_at=bindparam("changed"),
                done_count=bindparam("done_count"),
                rework_count=bindparam("rework"),
                reason=bindparam("reason"),
            ),
            moves.updates,
        )
    if moves.history:
        session.exec(insert(TaskEvent), params=moves.history)
    if moves.agents:
        agents = Agent.__table__
        session.connection().execute(
            update(agents)
            .where(agents.c.id == bindparam("agent_id"))
            .values(
                in_progress=bindparam("in_progress"),
                busy_ws=bindparam("busy_ws"),
                busy_since_ws=bindparam("busy_since_ws"),
            ),
            moves.agents,
        )


def add_checkins(engine, plan_key: str, now: datetime, days: int = 3) -> None:
    """Posted standups with answers, and heartbeats: what `health` and the overhead metric read."""
    rng = random.Random(5)
    with Session(engine) as session:
        plan = session.exec(select(Plan).where(Plan.key == plan_key)).one()
        calendar = calendar_of(plan)
        agents = session.exec(select(Agent.id, Agent.heartbeat_interval_s).where(Agent.plan_id == plan.id)).all()
        day, posted = calendar.local_date(now), 0
        while posted < days:
            if calendar.is_working_day(day) and calendar.window(day)[0] < now:
                due = calendar.window(day)[0]
                slot = SyncSlot(
                    plan_id=plan.id,
                    entry="standup",
                    local_date=day.isoformat(),
                    due_at=due,
                    duration_s=900,
                    status="posted",
                    claimed_by="bench",
                    posted_at=due,
                    channel="#bench",
                )
                session.add(slot)
                session.flush()
                session.exec(
                    insert(SyncAnswer),
                    params=[
                        dict(
                            slot_id=slot.id,
                            agent_id=agent_id,
                            asked_at=due,
                            source="slack",
                            answer={},
                            answered_at=due + timedelta(minutes=rng.randint(1, 40)) if rng.random() < 0.85 else None,
                        )
                        for agent_id, _ in agents
                    ],
                )
                posted += 1
            day -= timedelta(days=1)
        beats = [
            dict(agent_id=agent_id, at=now - timedelta(seconds=interval * k), status="up")
            for agent_id, interval in agents
            if interval
            for k in range(1, 9)
        ]
        if beats:
            session.exec(insert(Heartbeat), params=beats)
            session.exec(
                update(Agent)
                .where(Agent.plan_id == plan.id, Agent.heartbeat_interval_s.is_not(None))
                .values(last_seen_at=now - timedelta(minutes=10))
            )
        session.commit()


def task_keys(engine, plan_key: str, status: str, limit: int) -> list[str]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(Task.key)
                .join(Plan, Plan.id == Task.plan_id)
                .where(Plan.key == plan_key, Task.status == status)
                .order_by(Task.id)
                .limit(limit)
            )
        )


def stream_keys(engine, plan_key: str) -> list[str]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(Stream.key)
                .join(Plan, Plan.id == Stream.plan_id)
                .where(Plan.key == plan_key)
                .order_by(Stream.position)
            )
        )


def play_forward(store: Store) -> dict[str, int]:
    """Start the plan at ``store.now``, move it to 30% of its length, and do a few things through commands."""
    started = store.now
    store.run(["start", store.plan_key])
    store.now = reading_time(store.engine, store.plan_key, started)
    tally = move_tasks(store.engine, store.plan_key, store.now)
    add_checkins(store.engine, store.plan_key, store.now)
    plan = ["--plan", store.plan_key]
    for name, value in (("code-coverage", "87%"), ("api-response", "240ms"), ("bug-detection-rate", "2/day")):
        store.run(["metric", name, value, *plan])
    for key in task_keys(store.engine, store.plan_key, "in-progress", 2):
        store.run(["task", "done", key, *plan])
    for key in task_keys(store.engine, store.plan_key, "ready", 1):
        store.run(["task", "block", key, "--reason", "waiting for review", *plan])
    store.run(["pause", stream_keys(store.engine, store.plan_key)[-1], "--reason", "vendor outage", *plan])
    return tally


# --- one plan size ----------------------------------------------------------------


@dataclass
class Figures:
    name: str
    load_s: float = 0.0
    tasks: int = 0
    moved: dict = field(default_factory=dict)
    status_ms: list[float] = field(default_factory=list)
    health_ms: list[float] = field(default_factory=list)
    statements: dict[str, int] = field(default_factory=dict)
    catch_up_tick: tuple[float, int] = (0.0, 0)  # ms, statements
    tick_ms: list[float] = field(default_factory=list)
    tick_statements: int = 0
    dashboard: str = ""
    health_page: tuple[int, int] = (0, 0)  # agents shown in full on health's first answer, agents counted


def measure_both(plans: list[tuple[str, Path, str, Path]]) -> list[Figures]:
    """Each plan (name, file, key, directory) in its own store; the command latencies taken
    side by side, one run on each store in turn, so other work on the machine weighs on
    both alike (issue 21's size ratios compare them)."""
    stores = [open_store(directory, key) for _, _, key, directory in plans]
    all_figures = [Figures(name) for name, *_ in plans]
    try:
        for store, figures, (_, plan_file, _, _) in zip(stores, all_figures, plans, strict=True):
            figures.load_s = timed(store, ["plan", "load", str(plan_file)])
            figures.moved = play_forward(store)
        lines = [(["status", s.plan_key], ["health", "--agents", "all", "--plan", s.plan_key]) for s in stores]
        for which, runs, warmup in ((0, STATUS_RUNS, STATUS_WARMUP), (1, HEALTH_RUNS, 2)):
            for store, line in zip(stores, lines, strict=True):
                for _ in range(warmup):  # the first runs compile and cache the SQL
                    store.run(line[which])
            for _ in range(runs):
                for store, figures, line in zip(stores, all_figures, lines, strict=True):
                    (figures.status_ms if which == 0 else figures.health_ms).append(1000 * timed(store, line[which]))
        for store, figures, line in zip(stores, all_figures, lines, strict=True):
            _the_rest(store, figures, *line)
    finally:
        for store in stores:
            store.engine.dispose()
    return all_figures


def _the_rest(store: Store, figures: Figures, status: list[str], health: list[str]) -> None:
    """What each plan shows, its statement counts, its scheduler ticks."""
    board = store.run(status).body
    monitor = store.run(health).body
    figures.health_page = (len(monitor.agents), monitor.total)
    figures.dashboard, figures.tasks = _describe(board), board.counts.total
    first_stream = stream_keys(store.engine, store.plan_key)[0]
    # Counted after the warm-up runs: the same statements every time.
    figures.statements = {
        "status": count_statements(store, status),
        "health --agents all": count_statements(store, health),
        "pause": count_statements(store, ["pause", first_stream, "--plan", store.plan_key]),
        "resume": count_statements(store, ["resume", first_stream, "--plan", store.plan_key]),
    }
    figures.catch_up_tick = plan_tick(store, keep=True)
    times, figures.tick_statements = plan_tick(store, runs=TICK_RUNS)
    figures.tick_ms = times


def plan_tick(store: Store, *, runs: int = 1, keep: bool = False):
    """The scheduler tick's work for one plan (its PLAN_STEPS: monitoring, risk triggers, load balancing).

    ``keep``: one tick, committed: the first after the plan was moved along, which raises every
    event due (late tasks, missed gates) and returns (ms, statements). Otherwise ``runs`` ticks
    after that one, each rolled back so every run finds the same state: (times, statements of one).
    """
    times: list[float] = []
    for _ in range(runs):
        with Session(store.engine) as session, counting_statements(store.engine) as seen:
            plan = session.exec(select(Plan).where(Plan.key == store.plan_key)).one()
            started = time.perf_counter()
            for step in PLAN_STEPS:
                run_step(session, step, plan, store.now)
            times.append((time.perf_counter() - started) * 1000)
            session.commit() if keep else session.rollback()
    return (times[0], len(seen)) if keep else (times, len(seen))


def _describe(board) -> str:
    c = board.counts
    return (
        f"{len(board.streams)} streams, {c.total} tasks: {c.completed} done, {c.active} in progress, "
        f"{c.blocked} blocked, {c.ready} ready, {c.todo} waiting; progress {board.progress:.0%} "
        f"(planned {board.planned_progress:.0%})"
    )


# --- report ---------------------------------------------------------------------------


def report_rows(small: Figures, large: Figures) -> list[Row]:
    """The in-process figures; a bare Bolt app has no plan or store, so there is no baseline here."""
    p50, p99 = statistics.median(large.status_ms), percentile(large.status_ms, 99)
    rows = [
        Row(
            "plan load, large plan",
            f"{large.load_s:.2f} s",
            f"≤ {LOAD_TARGET_S:g} s",
            verdict(large.load_s <= LOAD_TARGET_S),
        ),
        Row("plan load, example plan", f"{small.load_s * 1000:.0f} ms"),
        Row(
            "status in-process p50 / p99, large plan",
            pair_ms(p50, p99),
            f"p99 < {STATUS_P99_TARGET_MS:g} ms",
            verdict(p99 < STATUS_P99_TARGET_MS),
        ),
        Row(
            "status in-process p50 / p99, example plan",
            pair_ms(statistics.median(small.status_ms), percentile(small.status_ms, 99)),
        ),
        Row("health --agents all in-process p50, large plan", ms(statistics.median(large.health_ms))),
        Row("health --agents all in-process p50, example plan", ms(statistics.median(small.health_ms))),
    ]
    for command in small.statements:
        a, b = small.statements[command], large.statements[command]
        if command == "status":
            target, ok = f"same at both sizes, ≤ {STATUS_STATEMENTS_TARGET}", a == b and b <= STATUS_STATEMENTS_TARGET
        else:
            target, ok = "same at both sizes", a == b
        rows.append(Row(f"SQL statements: {command} (example → large)", f"{a} → {b}", target, verdict(ok)))
    rows.append(
        Row(
            "scheduler tick per plan (monitor, risk triggers, load balancing), the first after 30%, "
            "which raises every event due: time, statements (example → large)",
            f"{small.catch_up_tick[0]:.0f} → {large.catch_up_tick[0]:.0f} ms, "
            f"{small.catch_up_tick[1]} → {large.catch_up_tick[1]}",
        )
    )
    rows.append(
        Row(
            "scheduler tick per plan, the ticks after it: p50, statements (example → large)",
            f"{statistics.median(small.tick_ms):.0f} → {statistics.median(large.tick_ms):.0f} ms, "
            f"{small.tick_statements} → {large.tick_statements}",
        )
    )
    return rows


def write_results(
    rows: list[Row],
    small: Figures,
    large: Figures,
    plan_bytes: int,
    total_s: float,
    notes: list[str] = (),
    load: tuple[float, float] = (float("nan"), float("nan")),
    issue: list[Row] = (),
) -> None:
    lines = [
        "# Benchmark results",
        "",
        "Written by `bench/run.py` (`make bench`); do not edit by hand.",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- CPUs: {os.cpu_count()}",
        f"- Python: {platform.python_version()} ({platform.python_implementation()})",
        f"- Platform: {platform.platform()}",
        "- Store: SQLite file, schema by Alembic; every command through `commands.core.dispatch.execute`",
        f"- Large plan: {large.tasks} tasks (generated, {plan_bytes / 1e6:.1f} MB of YAML); "
        f"example plan: {small.tasks} tasks",
        f"- Read {ELAPSED:.0%} of the way through each plan: large — {large.dashboard}; example — {small.dashboard}",
        f"- In-process status: {STATUS_WARMUP} warm-up runs, then {STATUS_RUNS} timed; health: 2 + {HEALTH_RUNS}; "
        "the two plans side by side (one run on each in turn); "
        f"statements counted with SQLAlchemy's before_cursor_execute event, after the warm-up",
        *notes,
        f"- Whole run: {total_s:.0f} s; load average (1 min) {load[0]:.2f} when it began, {load[1]:.2f} when it "
        f"ended (other work on the machine shows in the figures)",
        "- Where a target is missed, bench/HISTORY.md has the profile, the cause and the fix",
        "",
        "## Targets",
        "",
        "Issue 21 (performance at the scale of an organisation), each beside its figure before the change "
        "(bench/targets.py; bench/HISTORY.md has the profiles):",
        "",
        *targets_table(issue),
        "",
        "Earlier issues' targets:",
        "",
        *table([r for r in rows if r.result in ("PASS", "MISS")]),
        "",
        "## All figures",
        "",
        *table(rows),
        "",
    ]
    RESULTS.write_text("\n".join(lines), encoding="utf-8")


def guarded(name: str, module, measure, directory: Path) -> tuple[list[Row], list[str], object]:
    """Rows, notes and figures of one part of the benchmark: ``measure(directory)``, then the
    module's ``report_rows(figures)`` and ``notes()``.

    A failure is reported as a MISS row (and no figures), so the other figures are still written.
    """
    try:
        figures = measure(directory)
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        import traceback

        traceback.print_exc()
        return [Row(name, f"failed: {type(exc).__name__}: {str(exc)[:200]}", "runs", "MISS")], [], None
    return module.report_rows(figures), module.notes(), figures


PARTS = ("http", "fanout", "alerts", "history")  # besides the in-process figures, which always run


def other_parts(
    plan_file: Path, directory: Path, parts: tuple[str, ...] = PARTS
) -> tuple[list[Row], list[str], dict[str, object]]:
    """HTTP against a bare Bolt app, scheduler fan-out, alert delivery (their own modules);
    and each part's figures by part."""
    from bench import alerts_bench, fanout, history_bench, http_bench  # imported here: they import this module

    rows, notes, measured = [], [], {}
    for part, name, module, measure in (
        ("http", "HTTP benchmark", http_bench, lambda d: http_bench.measure_http(EXAMPLE_PLAN, plan_file, d)),
        ("fanout", "Scheduler fan-out", fanout, fanout.measure_fanout),
        ("alerts", "Alert delivery", alerts_bench, alerts_bench.measure_alerts),
        ("history", "History", history_bench, lambda d: history_bench.measure_history(d / "history")),
    ):
        if part not in parts:
            continue
        more_rows, more_notes, measured[part] = guarded(name, module, measure, directory)
        rows, notes = rows + more_rows, notes + more_notes
    return rows, notes, measured


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="orchestrate's benchmark (`make bench` runs it all)")
    parser.add_argument(
        "--only",
        nargs="*",
        choices=PARTS,
        default=None,
        help="besides the in-process figures, run only these parts; a partial run prints and writes nothing",
    )
    args = parser.parse_args(argv)
    parts = PARTS if args.only is None else tuple(args.only)
    began, load_before = time.perf_counter(), os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="orchestrate-bench-") as tmp:
        tmp = Path(tmp)
        (tmp / "example").mkdir()
        (tmp / "large").mkdir()
        plan_file = write_plan(tmp / "large.yml")
        print(f"generated {plan_file} ({plan_file.stat().st_size / 1e6:.1f} MB)")
        small, large = measure_both(
            [
                ("example", EXAMPLE_PLAN, EXAMPLE_PLAN_ID, tmp / "example"),
                ("large", plan_file, LARGE_PLAN_ID, tmp / "large"),
            ]
        )
        print(f"example plan measured: {small.dashboard}")
        print(f"large plan measured: {large.dashboard}")
        plan_bytes = plan_file.stat().st_size
        rows = report_rows(small, large)
        more_rows, notes, measured = other_parts(plan_file, tmp, parts)
    rows += more_rows
    issue = target_rows(small, large, measured.get("http"))
    print()
    print_rows(rows)
    print("\nissue 21's targets:")
    print_rows(issue)
    if parts != PARTS:  # RESULTS.md always holds a whole run
        return 0
    write_results(
        rows, small, large, plan_bytes, time.perf_counter() - began, notes, (load_before, os.getloadavg()[0]), issue
    )
    print(f"\nwrote {RESULTS.relative_to(ROOT)} ({time.perf_counter() - began:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
