"""History at scale (issue 20): `report` over the 24,000-task plan's whole history, and its exports' peak memory.

The generated large plan (bench/generate.py) is loaded in a fresh SQLite store made by Alembic and played 30%
of the way through as bench/run.py does (task history, metric readings), with 20 working days of standups
(600 agents asked each day, 85% answering). Then:

- `report` (text) and `report --format csv` through `commands.core.dispatch.execute`, warm-up then timed;
- `orchestrate export tasks|answers|audit --format csv|json` as a CLI subprocess writing to /dev/null, its
  peak resident memory (ru_maxrss of the child), beside `orchestrate status`'s (what the CLI needs anyway).

    python bench/history_bench.py          # prints the rows; `make bench` puts them in bench/RESULTS.md
"""

import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from bench.generate import PLAN_ID, write_plan  # noqa: E402
from bench.report import Row, verdict  # noqa: E402
from bench.run import add_checkins, move_tasks, open_store, reading_time  # noqa: E402
from models.db.tables import SyncAnswer, TaskEvent  # noqa: E402

REPORT_TARGET_S = 1.0
EXPORT_TARGET_MB = 200.0
RUNS, WARMUP = 5, 1
STANDUP_DAYS = 20
EXPORTS = (("tasks", "csv"), ("answers", "json"), ("audit", "csv"))


@dataclass
class HistoryFigures:
    events: int = 0
    answers: int = 0
    report_s: list[float] = field(default_factory=list)
    report_csv_s: list[float] = field(default_factory=list)
    csv_bytes: int = 0
    exports: dict[str, tuple[float, int, float]] = field(default_factory=dict)  # what: (peak MB, bytes, s)
    floor_mb: float = 0.0  # `orchestrate status`'s peak: the CLI's own


def _peak_of(argv: list[str], env: dict[str, str]) -> tuple[float, int, float]:
    """(peak resident MB, bytes written, seconds) of a CLI run, in a process of its own."""
    probe = (
        "import resource, subprocess, sys, time\n"
        "began = time.perf_counter()\n"
        "out = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, check=True).stdout\n"
        "took = time.perf_counter() - began\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, len(out), took)\n"
    )
    # The probe keeps the output only to count it: the child streams it into the pipe as it goes.
    line = subprocess.run([sys.executable, "-c", probe, *argv], env=env, capture_output=True, text=True, check=True)
    kb, size, took = line.stdout.split()
    return int(kb) / 1024, int(size), float(took)


def measure_history(directory: Path) -> HistoryFigures:
    directory.mkdir(parents=True, exist_ok=True)
    plan_file = write_plan(directory / "large.yml")
    store = open_store(directory, PLAN_ID)
    store.run(["plan", "load", str(plan_file)])
    started = store.now
    store.run(["start", PLAN_ID])
    store.now = reading_time(store.engine, PLAN_ID, started)
    move_tasks(store.engine, PLAN_ID, store.now)
    add_checkins(store.engine, PLAN_ID, store.now, days=STANDUP_DAYS)
    for value in ("81%", "84%", "87%"):
        store.run(["metric", "code-coverage", value, "--plan", PLAN_ID])
    figures = HistoryFigures()
    with Session(store.engine) as session:
        figures.events = session.exec(select(func.count()).select_from(TaskEvent)).one()
        figures.answers = session.exec(select(func.count()).select_from(SyncAnswer)).one()
    print(f"history: {figures.events} task events, {figures.answers} sync answers")
    for line, times in (
        (["report", PLAN_ID], figures.report_s),
        (["report", PLAN_ID, "--format", "csv"], figures.report_csv_s),
    ):
        for n in range(WARMUP + RUNS):
            began = time.perf_counter()
            reply = store.run(line)
            if n >= WARMUP:
                times.append(time.perf_counter() - began)
    figures.csv_bytes = len(reply.body.content.encode())
    store.engine.dispose()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{directory / 'bench.db'}"}
    cli = [str(ROOT / ".venv" / "bin" / "orchestrate")]
    figures.floor_mb = _peak_of([*cli, "status", PLAN_ID], env)[0]
    for what, fmt in EXPORTS:
        figures.exports[what] = _peak_of([*cli, "export", what, PLAN_ID, "--format", fmt], env)
        print(f"export {what}: {figures.exports[what]}")
    return figures


def report_rows(figures: HistoryFigures) -> list[Row]:
    p50 = statistics.median(figures.report_s)
    worst = max(figures.report_s)
    rows = [
        Row(
            f"`report` over the large plan's whole history ({figures.events:,} task events, "
            f"{figures.answers:,} sync answers): p50 / slowest of {RUNS}",
            f"{p50 * 1000:.0f} / {worst * 1000:.0f} ms",
            f"< {REPORT_TARGET_S:g} s",
            verdict(worst < REPORT_TARGET_S),
        ),
        Row(
            f"`report --format csv`, the same ({figures.csv_bytes / 1e6:.1f} MB of CSV): p50 / slowest",
            f"{statistics.median(figures.report_csv_s) * 1000:.0f} / {max(figures.report_csv_s) * 1000:.0f} ms",
            f"< {REPORT_TARGET_S:g} s",
            verdict(max(figures.report_csv_s) < REPORT_TARGET_S),
        ),
    ]
    for what, fmt in EXPORTS:
        peak, size, took = figures.exports[what]
        rows.append(
            Row(
                f"`orchestrate export {what} --format {fmt}` of the large plan ({size / 1e6:.1f} MB in {took:.1f} s): "
                f"peak resident memory (`status`: {figures.floor_mb:.0f} MB)",
                f"{peak:.0f} MB",
                f"< {EXPORT_TARGET_MB:g} MB",
                verdict(peak < EXPORT_TARGET_MB),
            )
        )
    return rows


def notes() -> list[str]:
    return [
        f"- History: the large plan played 30% through (bench/run.py's move_tasks) with {STANDUP_DAYS} days of "
        f"standups; `report` in-process, {WARMUP} warm-up + {RUNS} timed; exports as CLI subprocesses, peak "
        "resident memory from the child's ru_maxrss"
    ]


def main() -> int:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="orchestrate-history-") as tmp:
        figures = measure_history(Path(tmp))
    for row in report_rows(figures):
        print(f"| {row.figure} | {row.measured} | {row.target} | {row.result} |")
    print(f"(max RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
