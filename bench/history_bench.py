"""History at scale (issue 20): `report` over the 24,000-task plan's whole history, and its five exports' peak memory.

The generated large plan (bench/generate.py) is loaded in a fresh SQLite store made by Alembic and played to its
end: the tasks that wait for a coordination action are readied (as if every action had fired), and every task is
worked to done as bench/run.py's move_tasks does (each stream at its own pace, 4% reworked: done, reopened, done
again); 8% of the tasks were blocked for a while on the way. Over every working day of that history:

- the standup (600 agents asked, 85% answering, in its window or up to 40 minutes in);
- metric readings: four reported metrics eight times a working day (as CI and monitors report them), and the
  five computed ones snapshotted each evening;
- alerts: 12 info notices, 6 warnings and 1 critical a working day; most warnings and every critical one
  acknowledged (in 2 to 240 minutes), the criticals resolved;
- the audit log: one entry per command the history stands for: each task change (`task start|done|block|
  reopen`), each sync answer, each metric reported, and a refused command a day in every ten streams.

Then:

- `report` (text) and `report --format csv` over the whole history (the default range: the plan so far)
  through `commands.core.dispatch.execute`, warm-up then timed;
- `orchestrate export tasks|answers|readings|alerts|audit` of the whole history as CLI subprocesses writing into
  a pipe: time, bytes, and peak resident memory (ru_maxrss of the child), beside `orchestrate status`'s (what the
  CLI needs anyway).

    python bench/history_bench.py                   # the large plan; `make bench` puts the rows in RESULTS.md
    python bench/history_bench.py --streams 6       # a tenth of it, to try a change
    python bench/history_bench.py --keep /tmp/h     # and keep the store (/tmp/h/bench.db), to profile `report`
"""

import os
import random
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import String, bindparam, case, cast, func, insert, literal, update  # noqa: E402
from sqlmodel import Session, col, select  # noqa: E402

from bench.generate import PLAN_ID, write_plan  # noqa: E402
from bench.report import Row, verdict  # noqa: E402
from bench.run import add_checkins, move_tasks, open_store  # noqa: E402
from models.db.tables import (  # noqa: E402
    Agent,
    Alert,
    AuditEntry,
    MetricReading,
    Plan,
    SyncAnswer,
    SyncSlot,
    Task,
    TaskEvent,
)
from models.plan.settings import calendar_of  # noqa: E402

REPORT_TARGET_S = 1.0
EXPORT_TARGET_MB = 200.0
RUNS, WARMUP = 5, 1
EXPORTS = (("tasks", "csv"), ("answers", "json"), ("readings", "csv"), ("alerts", "json"), ("audit", "csv"))
SLOWEST_PACE = 0.75 * 0.9  # move_tasks: a stream's pace ≥ 0.75, an agent's ≥ 0.9 of it
BLOCKED_SHARE = 0.08
REPORTED = {
    "code-coverage": (80.0, 95.0, "%"),
    "api-response": (0.15, 0.45, "s"),
    "bug-detection-rate": (0.0, 8.0, "/day"),
    "review-turnaround": (1800.0, 14400.0, "s"),
}
COMPUTED = ("parallel-efficiency", "agent-utilization", "blocking-time", "rework-rate", "communication-overhead")
READINGS_A_DAY = 8
ALERTS_A_DAY = (("info", 12, "task-complete"), ("warning", 6, "task-delayed"), ("critical", 1, "agent-down"))


@dataclass
class HistoryFigures:
    shape: str = ""
    first: str = ""
    last: str = ""
    working_days: int = 0
    tasks: int = 0
    tasks_done: int = 0
    events: int = 0
    answers: int = 0
    readings: int = 0
    alerts: int = 0
    audit: int = 0
    seed_s: float = 0.0
    report_s: list[float] = field(default_factory=list)
    report_csv_s: list[float] = field(default_factory=list)
    report_cpu_s: list[float] = field(default_factory=list)  # CPU time of the same runs: what load does not add
    report_csv_cpu_s: list[float] = field(default_factory=list)
    csv_bytes: int = 0
    exports: dict[str, tuple[float, int, float]] = field(default_factory=dict)  # what: (peak MB, bytes, s)
    floor_mb: float = 0.0  # `orchestrate status`'s peak: the CLI's own


# --- the history --------------------------------------------------------------


def play_to_the_end(engine, plan_key: str) -> datetime:
    """Every task of the plan done: waiting tasks readied, then all worked (move_tasks) to a time past the last."""
    with Session(engine) as session:
        plan = session.exec(select(Plan).where(Plan.key == plan_key)).one()
        session.exec(
            update(Task).where(col(Task.plan_id) == plan.id, col(Task.status) == "todo").values(status="ready")
        )
        last_due = session.exec(select(func.max(Task.planned_due_ws)).where(Task.plan_id == plan.id)).one()
        session.commit()
        calendar = calendar_of(plan)
        assert plan.started_at is not None
        end = calendar.add_working(plan.started_at, last_due / SLOWEST_PACE + calendar.day_s)
    move_tasks(engine, plan_key, end)
    return end


def add_blocks(engine, plan_key: str, seed: int = 3) -> None:
    """A share of the tasks blocked a while between their start and their done, unblocked after."""
    rng = random.Random(seed)
    with Session(engine) as session:
        plan_id = session.exec(select(Plan.id).where(Plan.key == plan_key)).one()
        spans = session.exec(
            select(TaskEvent.task_id, func.min(TaskEvent.at), func.max(TaskEvent.at))
            .join(Task, col(Task.id) == TaskEvent.task_id)
            .where(Task.plan_id == plan_id)
            .group_by(col(TaskEvent.task_id))
        ).all()
        rows, blocked = [], []
        reasons = ["waiting for API contract", "flaky staging", "needs design review", "blocked until T12 is merged"]
        for task_id, began, ended in spans:
            if rng.random() >= BLOCKED_SHARE or ended <= began:
                continue
            at = began + (ended - began) * rng.uniform(0.1, 0.5)
            back = at + (ended - at) * rng.uniform(0.2, 0.8)
            reason = rng.choice(reasons)
            rows += [
                dict(
                    task_id=task_id, at=at, from_status="in-progress", to_status="blocked", actor="bench", reason=reason
                ),
                dict(
                    task_id=task_id, at=back, from_status="blocked", to_status="in-progress", actor="bench", reason=None
                ),
            ]
            blocked.append({"tid": task_id, "s": int((back - at).total_seconds())})
        session.exec(insert(TaskEvent), params=rows)
        table = Task.__table__
        session.connection().execute(
            update(table).where(table.c.id == bindparam("tid")).values(blocked_ws=bindparam("s")), blocked
        )
        session.commit()


def working_days(engine, plan_key: str, end: datetime) -> list:
    with Session(engine) as session:
        plan = session.exec(select(Plan).where(Plan.key == plan_key)).one()
        calendar = calendar_of(plan)
        assert plan.started_at is not None
        day, last, days = calendar.local_date(plan.started_at), calendar.local_date(end), []
        while day <= last:
            if calendar.is_working_day(day) and calendar.window(day)[0] < end:
                days.append(day)
            day += timedelta(days=1)
        return days


def add_readings_and_alerts(engine, plan_key: str, days: list, seed: int = 13) -> None:
    rng = random.Random(seed)
    with Session(engine) as session:
        plan = session.exec(select(Plan).where(Plan.key == plan_key)).one()
        calendar = calendar_of(plan)
        readings, alerts = [], []
        for day in days:
            opens, closes = calendar.window(day)
            length = (closes - opens).total_seconds()
            for name, (low, high, unit) in REPORTED.items():
                for k in range(READINGS_A_DAY):
                    at = opens + timedelta(seconds=length * (k + rng.random()) / READINGS_A_DAY)
                    value = round(rng.uniform(low, high), 3)
                    readings.append(
                        dict(
                            plan_id=plan.id,
                            name=name,
                            value=value,
                            unit=unit,
                            at=at,
                            source="api",
                            reported_by="api:ci",
                        )
                    )
            for name in COMPUTED:
                readings.append(
                    dict(
                        plan_id=plan.id,
                        name=name,
                        value=round(rng.uniform(2, 95), 1),
                        unit="%",
                        at=closes,
                        source="scheduler",
                        reported_by=None,
                    )
                )
            for level, count, event in ALERTS_A_DAY:
                for _ in range(count):
                    at = opens + timedelta(seconds=rng.uniform(0, length))
                    acked = level == "critical" or (level == "warning" and rng.random() < 0.8)
                    acked_at = at + timedelta(minutes=rng.uniform(2, 240)) if acked else None
                    alerts.append(
                        dict(
                            plan_id=plan.id,
                            event_name=event,
                            level=level,
                            text=f"{plan_key}: {event} at {at:%H:%M}",
                            status="notice"
                            if level == "info"
                            else ("resolved" if level == "critical" else ("acknowledged" if acked else "open")),
                            created_at=at,
                            last_seen_at=at,
                            acked_at=acked_at,
                            acked_by="U0LEAD0001" if acked else None,
                            resolved_at=acked_at + timedelta(minutes=30) if level == "critical" and acked_at else None,
                            resolved_by="U0LEAD0001" if level == "critical" else None,
                        )
                    )
        session.exec(insert(MetricReading), params=readings)
        session.exec(insert(Alert), params=alerts)
        session.commit()


def fill_audit(engine, plan_key: str, days: list, seed: int = 17) -> None:
    """One audit entry per command the history stands for, written as dispatch writes them."""
    rng = random.Random(seed)
    with Session(engine) as session:
        plan = session.exec(select(Plan).where(Plan.key == plan_key)).one()
        calendar = calendar_of(plan)
        audit = AuditEntry.__table__
        verb = case(
            (col(TaskEvent.to_status) == "in-progress", "task start "),
            (col(TaskEvent.to_status) == "done", "task done "),
            (col(TaskEvent.to_status) == "blocked", "task block "),
            else_="task reopen ",
        )
        actor = literal("slack:") + func.coalesce(col(Agent.key), "lead")
        session.exec(
            insert(audit).from_select(
                ["at", "plan_key", "actor", "actor_name", "source", "command", "outcome", "message"],
                select(
                    TaskEvent.at,
                    literal(plan_key),
                    actor,
                    Agent.name,
                    literal("slack:C0PLAN0001"),
                    verb + col(Task.key),
                    literal("ok"),
                    literal(None),
                )
                .join(Task, col(Task.id) == TaskEvent.task_id)
                .outerjoin(Agent, col(Agent.id) == Task.agent_id)
                .where(Task.plan_id == plan.id)
                .order_by(col(TaskEvent.at)),
            )
        )
        session.exec(
            insert(audit).from_select(
                ["at", "plan_key", "actor", "actor_name", "source", "command", "outcome", "message"],
                select(
                    SyncAnswer.answered_at,
                    literal(plan_key),
                    literal("slack:") + col(Agent.key),
                    Agent.name,
                    literal("slack:C0PLAN0001"),
                    literal('answer --field yesterday="reviews" --field today="the next task" --field blockers=""'),
                    literal("ok"),
                    literal(None),
                )
                .join(SyncSlot, col(SyncSlot.id) == SyncAnswer.slot_id)
                .join(Agent, col(Agent.id) == SyncAnswer.agent_id)
                .where(SyncSlot.plan_id == plan.id, col(SyncAnswer.answered_at).is_not(None))
                .order_by(col(SyncAnswer.answered_at)),
            )
        )
        session.exec(
            insert(audit).from_select(
                ["at", "plan_key", "actor", "actor_name", "source", "command", "outcome", "message"],
                select(
                    MetricReading.at,
                    literal(plan_key),
                    literal("api"),
                    literal("ci"),
                    literal("api"),
                    literal("metric ") + col(MetricReading.name) + literal(" ") + cast(MetricReading.value, String),
                    literal("ok"),
                    literal(None),
                )
                .where(MetricReading.plan_id == plan.id, MetricReading.source == "api")
                .order_by(col(MetricReading.at)),
            )
        )
        refused = [
            dict(
                at=calendar.window(day)[0] + timedelta(minutes=rng.randint(5, 400)),
                plan_key=plan_key,
                actor=f"slack:U{rng.randint(1, 60):03d}01BENCH",
                actor_name="someone",
                source="slack:C0PLAN0001",
                command="validate --checkpoint cp-2 --force",
                outcome="refused",
                message="Only the plan's leads may force a gate.",
            )
            for day in days
            for _ in range(6)
        ]
        session.exec(insert(AuditEntry), params=refused)
        session.commit()


def count(session: Session, table, *where) -> int:
    return session.exec(select(func.count()).select_from(table).where(*where)).one()


# --- measuring ----------------------------------------------------------------


def _peak_of(argv: list[str], env: dict[str, str]) -> tuple[float, int, float]:
    """(peak resident MB, bytes written, seconds) of a CLI run, in a process of its own."""
    probe = (
        "import resource, subprocess, sys, time\n"
        "began = time.perf_counter()\n"
        "size = 0\n"
        "with subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE) as child:\n"
        "    for chunk in iter(lambda: child.stdout.read(1 << 16), b''):\n"
        "        size += len(chunk)\n"
        "assert child.returncode == 0, child.returncode\n"
        "took = time.perf_counter() - began\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, size, took)\n"
    )
    # The probe counts what comes down the pipe and keeps none of it: the child streams as it goes.
    line = subprocess.run([sys.executable, "-c", probe, *argv], env=env, capture_output=True, text=True, check=True)
    kb, size, took = line.stdout.split()
    return int(kb) / 1024, int(size), float(took)


def measure_history(directory: Path, **shape) -> HistoryFigures:
    directory.mkdir(parents=True, exist_ok=True)
    figures = HistoryFigures(shape=", ".join(f"{k}={v}" for k, v in shape.items()) or "the large plan")
    began = time.perf_counter()
    plan_file = write_plan(directory / "large.yml", **shape)
    store = open_store(directory, PLAN_ID)
    store.run(["plan", "load", str(plan_file)])
    store.run(["start", PLAN_ID])
    end = play_to_the_end(store.engine, PLAN_ID)
    add_blocks(store.engine, PLAN_ID)
    days = working_days(store.engine, PLAN_ID, end)
    add_checkins(store.engine, PLAN_ID, end, days=len(days))
    add_readings_and_alerts(store.engine, PLAN_ID, days)
    fill_audit(store.engine, PLAN_ID, days)
    store.now = end + timedelta(hours=1)
    figures.seed_s = time.perf_counter() - began
    figures.first, figures.last, figures.working_days = str(days[0]), str(days[-1]), len(days)
    with Session(store.engine) as session:
        plan_id = session.exec(select(Plan.id).where(Plan.key == PLAN_ID)).one()
        figures.tasks = count(session, Task, Task.plan_id == plan_id)
        figures.tasks_done = count(session, Task, Task.plan_id == plan_id, Task.status == "done")
        figures.events = count(session, TaskEvent)
        figures.answers = count(session, SyncAnswer)
        figures.readings = count(session, MetricReading, MetricReading.plan_id == plan_id)
        figures.alerts = count(session, Alert, Alert.plan_id == plan_id)
        figures.audit = count(session, AuditEntry, AuditEntry.plan_key == PLAN_ID)
    print(
        f"history ({figures.shape}) {figures.first} to {figures.last}, {figures.working_days} working days, made in "
        f"{figures.seed_s:.0f} s: {figures.tasks_done:,} of {figures.tasks:,} tasks done, {figures.events:,} task "
        f"events, {figures.answers:,} sync answers, {figures.readings:,} readings, {figures.alerts:,} alerts, "
        f"{figures.audit:,} audit entries",
        flush=True,
    )
    for line, times, cpu in (
        (["report", PLAN_ID], figures.report_s, figures.report_cpu_s),
        (["report", PLAN_ID, "--format", "csv"], figures.report_csv_s, figures.report_csv_cpu_s),
    ):
        for n in range(WARMUP + RUNS):
            began, began_cpu = time.perf_counter(), time.process_time()
            reply = store.run(line)
            if n >= WARMUP:
                times.append(time.perf_counter() - began)
                cpu.append(time.process_time() - began_cpu)
            if n == 0 and line[-1] == PLAN_ID:  # what it says, to see the history is whole
                print(reply.body.title, *reply.body.headline, sep="\n  ", flush=True)
        print(
            f"{' '.join(line)}: " + ", ".join(f"{t * 1000:.0f} ms" for t in times),
            "(CPU " + ", ".join(f"{t * 1000:.0f}" for t in cpu) + " ms)",
            flush=True,
        )
    figures.csv_bytes = len(reply.body.content.encode())
    store.engine.dispose()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{directory / 'bench.db'}", "PYTHONPATH": str(ROOT)}
    cli = [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main())"]
    figures.floor_mb = _peak_of([*cli, "status", PLAN_ID], env)[0]
    for what, fmt in EXPORTS:
        figures.exports[what] = _peak_of([*cli, "export", what, PLAN_ID, "--format", fmt], env)
        peak, size, took = figures.exports[what]
        print(f"export {what} --format {fmt}: {size / 1e6:.1f} MB in {took:.1f} s, peak {peak:.0f} MB", flush=True)
    return figures


def ms_pair(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.0f} / {max(samples) * 1000:.0f} ms"


def report_rows(figures: HistoryFigures) -> list[Row]:
    p50 = statistics.median(figures.report_s)
    worst = max(figures.report_s)
    history = (
        f"{figures.tasks_done:,} of {figures.tasks:,} tasks done over {figures.working_days} working days: "
        f"{figures.events:,} task events, {figures.answers:,} sync answers"
    )
    rows = [
        Row(
            f"`report` over the large plan's whole history ({history}): p50 / slowest of {RUNS} "
            f"(CPU time p50 / slowest: {ms_pair(figures.report_cpu_s)})",
            f"{p50 * 1000:.0f} / {worst * 1000:.0f} ms",
            f"< {REPORT_TARGET_S:g} s",
            verdict(worst < REPORT_TARGET_S),
        ),
        Row(
            f"`report --format csv`, the same ({figures.csv_bytes / 1e6:.1f} MB of CSV): p50 / slowest "
            f"(CPU time: {ms_pair(figures.report_csv_cpu_s)})",
            f"{statistics.median(figures.report_csv_s) * 1000:.0f} / {max(figures.report_csv_s) * 1000:.0f} ms",
            f"< {REPORT_TARGET_S:g} s",
            verdict(max(figures.report_csv_s) < REPORT_TARGET_S),
        ),
    ]
    rows_of = {
        "tasks": figures.events,
        "answers": figures.answers,
        "readings": figures.readings,
        "alerts": figures.alerts,
        "audit": figures.audit,
    }
    for what, fmt in EXPORTS:
        peak, size, took = figures.exports[what]
        rows.append(
            Row(
                f"`orchestrate export {what} --format {fmt}` of the whole history ({rows_of[what]:,} rows, "
                f"{size / 1e6:.1f} MB in {took:.1f} s): peak resident memory (`status`: {figures.floor_mb:.0f} MB)",
                f"{peak:.0f} MB",
                f"< {EXPORT_TARGET_MB:g} MB",
                verdict(peak < EXPORT_TARGET_MB),
            )
        )
    return rows


def notes() -> list[str]:
    return [
        "- History: the large plan played to its end (every task done; bench/history_bench.py), with a standup, "
        "metric readings, alerts and audit entries every working day; `report` in-process over the plan so far, "
        f"{WARMUP} warm-up + {RUNS} timed; the five exports as CLI subprocesses, peak resident memory from the "
        "child's ru_maxrss"
    ]


def main(argv: list[str] | None = None) -> int:
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, help="streams of the generated plan (60: the large plan)")
    parser.add_argument("--tasks-per-agent", type=int, help="tasks per agent (40)")
    parser.add_argument("--keep", type=Path, help="make the store in this (new) folder and keep it, to profile")
    args = parser.parse_args(argv)
    shape = {k: v for k, v in (("streams", args.streams), ("tasks_per_agent", args.tasks_per_agent)) if v}
    began, load = time.perf_counter(), os.getloadavg()
    if args.keep:
        figures = measure_history(args.keep, **shape)
    else:
        with tempfile.TemporaryDirectory(prefix="orchestrate-history-") as tmp:
            figures = measure_history(Path(tmp), **shape)
    for row in report_rows(figures):
        print(f"| {row.figure} | {row.measured} | {row.target} | {row.result} |")
    print(
        f"(whole run {time.perf_counter() - began:.0f} s; load average at the start {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f}, at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}; max RSS of this process: "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
