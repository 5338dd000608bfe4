"""The running figures status and health read (models/db/figures.py) equal a full recomputation.

After any sequence of commands (task changes, pauses, stops, reassignments, added tasks,
agents moved, the scheduler's tick, a reload that archives tasks), on both stores:
- the kept rows (stream_figures, agent_figures, planned_points) equal the same figures
  counted again from every task, in Python;
- the dashboard's per-stream figures (progress, planned progress, lateness, counts) equal
  the ones computed from every task, in Python, the way the dashboard once did in SQL.
"""

from collections import Counter, defaultdict
from contextlib import suppress

import pytest
import yaml
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlmodel import Session, select

from commands.core.errors import CommandError
from models.db.figures import BUCKET_WS
from models.db.store import alembic_config, upgrade
from models.db.tables import AgentFigures, Plan, PlannedPoints, Stream, StreamFigures, Task
from models.plan.settings import plan_clock
from models.rules.tick import PLAN_STEPS, run_step
from models.time.clocks import stream_clock
from models.views.dashboard import dashboard
from tests.conftest import EXAMPLE_PLAN

PLAN = "TR-ORCH-001"
TASKS = [f"T{n}" for n in range(1, 27)]  # the example's 24, and room for a few added ones
STREAMS = ["stream-a-backend", "stream-b-frontend", "stream-c-testing"]
AGENTS = ["agent-a1", "agent-a2", "agent-b1", "agent-b2", "agent-c1", "agent-c2"]

commands = st.one_of(
    st.tuples(st.sampled_from(["start", "done", "block", "fail", "reopen"]), st.sampled_from(TASKS)).map(
        lambda c: f"task {c[0]} {c[1]} --reason why"
    ),
    st.tuples(st.sampled_from(TASKS), st.sampled_from(AGENTS)).map(lambda c: f"task assign {c[0]} --agent {c[1]}"),
    st.sampled_from(STREAMS).map(lambda s: f"pause {s} --reason vendor"),
    st.sampled_from(STREAMS).map(lambda s: f"resume {s}"),
    st.tuples(st.sampled_from(AGENTS), st.sampled_from(STREAMS)).map(lambda c: f"reallocate --from {c[0]} --to {c[1]}"),
    st.sampled_from(["2h", "1d"]).map(lambda e: f"task add extra --type Testing --estimate {e}"),
    st.just("stop --reason pause-all"),
    st.just(f"execute {PLAN} --start-now"),
    st.just("tick"),
    st.just("reload without T24"),
)
steps = st.lists(st.tuples(commands, st.integers(min_value=0, max_value=9)), min_size=1, max_size=12)


def counted_again(session: Session, plan: Plan) -> tuple[dict, dict, dict]:
    """The three kept tables' figures, from every non-archived task of the plan."""
    streams, agents, points = defaultdict(Counter), Counter(), defaultdict(Counter)
    for task in session.exec(select(Task).where(Task.plan_id == plan.id, Task.archived == False)):  # noqa: E712
        figures = streams[(task.stream_id, task.status)]
        figures["tasks"] += 1
        for column in ("estimate_ws", "since_ws", "active_ws", "blocked_ws", "done_count", "rework_count"):
            figures[column] += getattr(task, column)
        if task.agent_id is not None:
            agents[(task.agent_id, task.status.replace("-", "_"))] += 1
        # One point per task, in the bucket of its planned end.
        point = points[(task.stream_id, task.planned_due_ws // BUCKET_WS)]
        point["starts"] += 1
        point["start_sum"] += task.planned_start_ws
        point["dues"] += 1
        point["due_sum"] += task.planned_due_ws
    return _nonzero(streams), {k: v for k, v in agents.items() if v}, _nonzero(points)


def kept(session: Session, plan: Plan) -> tuple[dict, dict, dict]:
    stream_ids = set(session.exec(select(Stream.id).where(Stream.plan_id == plan.id)))
    streams = {
        (row.stream_id, row.status): Counter(row.model_dump(exclude={"plan_id", "stream_id", "status"}))
        for row in session.exec(select(StreamFigures).where(StreamFigures.plan_id == plan.id))
    }
    agents = {
        (row.agent_id, status): n
        for row in session.exec(select(AgentFigures).where(AgentFigures.plan_id == plan.id))
        for status, n in row.model_dump(exclude={"plan_id", "agent_id"}).items()
        if n
    }
    points = {
        (row.stream_id, row.bucket): Counter(row.model_dump(exclude={"stream_id", "bucket"}))
        for row in session.exec(select(PlannedPoints).where(PlannedPoints.stream_id.in_(stream_ids)))
    }
    return _nonzero(streams), agents, _nonzero(points)


def _nonzero(figures: dict) -> dict:
    """Rows whose every figure is 0 are what a task leaving a status leaves behind: no figure."""
    return {key: {k: v for k, v in c.items() if v} for key, c in figures.items() if any(c.values())}


def dashboard_from_every_task(session: Session, plan: Plan, now) -> dict:
    """Per stream: the figures the dashboard shows, from every task (the old full aggregate)."""
    w_now = plan_clock(plan, now)
    out = {}
    for stream in session.exec(select(Stream).where(Stream.plan_id == plan.id, Stream.archived == False)):  # noqa: E712
        clock = stream_clock(stream, w_now)
        tasks = session.exec(select(Task).where(Task.stream_id == stream.id, Task.archived == False)).all()  # noqa: E712
        estimate = sum(t.estimate_ws for t in tasks)
        done = sum(t.estimate_ws for t in tasks if t.status == "done")
        planned = sum(t.estimate_ws for t in tasks if t.planned_due_ws <= clock)  # planned-done once due
        late = [clock - t.planned_due_ws for t in tasks if t.status != "done"]
        counts = Counter(t.status for t in tasks)
        out[stream.key] = {
            "progress": done / estimate if estimate else 0.0,
            "planned_progress": planned / estimate if estimate else 0.0,
            "lateness_s": max(late) if late else None,
            "tasks": len(tasks),
            "done": counts["done"],
            "active": counts["in-progress"],
            "blocked": counts["blocked"],
            "failed": counts["failed"],
        }
    return out


def shown(board) -> dict:
    fields = ("progress", "planned_progress", "lateness_s", "tasks", "done", "active", "blocked", "failed")
    return {s.key: {f: getattr(s, f) for f in fields} for s in board.streams}


def apply(run, engine, line: str, tmp_path) -> None:
    if line == "tick":
        with Session(engine) as session:
            plan = session.exec(select(Plan).where(Plan.key == PLAN)).one()
            for step in PLAN_STEPS:
                run_step(session, step, plan, run.now)
            session.commit()
        return
    if line == "reload without T24":
        document = yaml.safe_load(EXAMPLE_PLAN.read_text(encoding="utf-8"))
        for agent in document["agents"].values():
            agent["tasks"] = [t for t in agent.get("tasks", []) if "T24" not in str(t)]
        changed = tmp_path / "plan.yml"
        changed.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        line = f"plan load {changed}"
    with suppress(CommandError):  # refused: it changes nothing, which the figures must show too
        run(line)


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"], indirect=True)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=steps)
def test_kept_figures_equal_a_full_recount(started, engine, tmp_path, sequence):
    # The store carries over from one example to the next: still a sequence of commands.
    for line, hours in sequence:
        started.advance(hours=hours)
        apply(started, engine, line, tmp_path)
        with Session(engine) as session:
            plan = session.exec(select(Plan).where(Plan.key == PLAN)).one()
            assert kept(session, plan) == counted_again(session, plan), line
            assert shown(dashboard(session, plan, started.now)) == dashboard_from_every_task(
                session, plan, started.now
            ), line


def test_a_store_upgraded_from_0003_gets_its_figures_from_its_tasks(started, engine):
    """Tasks written before the figures existed (at revision 0003) are counted by migration 0004."""
    started("task done T1")
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.stamp(config, "head")  # the tests' stores are made from the models: say so to Alembic
        command.downgrade(config, "0003")
        # What an older release would do: change tasks with nothing to keep figures.
        connection.execute(text("UPDATE tasks SET status = 'in-progress', since_ws = 3600 WHERE key IN ('T2', 'T3')"))
        connection.execute(
            text("UPDATE tasks SET planned_start_ws = 7200, planned_due_ws = 7200 + estimate_ws WHERE key = 'T4'")
        )
    upgrade(engine)
    with Session(engine) as session:
        plan = session.exec(select(Plan).where(Plan.key == PLAN)).one()
        assert kept(session, plan) == counted_again(session, plan)
        assert shown(dashboard(session, plan, started.now)) == dashboard_from_every_task(session, plan, started.now)
