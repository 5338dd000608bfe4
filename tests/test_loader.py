"""Loading and reloading: same file changes nothing; a changed file keeps run state."""

import pytest
from sqlmodel import Session, select

from commands.core.errors import CommandError
from models.db.tables import Agent, AuditEntry, Plan, Stream, Task
from tests.conftest import EXAMPLE_PLAN


def _edited(tmp_path, *replacements):
    text = EXAMPLE_PLAN.read_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "edited.yml"
    path.write_text(text)
    return path


def test_loading_the_same_file_twice_changes_nothing(loaded, engine):
    with Session(engine) as session:
        before = session.exec(select(Plan.updated_at)).one()
    reply = loaded(f"plan load {EXAMPLE_PLAN}")
    assert "nothing changed" in reply.body.text
    with Session(engine) as session:
        assert session.exec(select(Plan.updated_at)).one() == before
        assert len(session.exec(select(Task)).all()) == 24


def test_a_changed_file_updates_the_plan_and_keeps_run_state(started, engine, tmp_path):
    started("task start T1")
    started.advance(hours=3)
    started("task done T1")
    started("task start T2")
    started("pause stream-c")
    started("reallocate --from agent-c2 --to stream-a-backend")
    edited = _edited(
        tmp_path,
        ("      - Alembic migration\n", "      - Alembic migration scripts\n"),
        ("      - Accessibility\n", ""),
        ("      - Production rollout\n", "      - Production rollout\n      - Post-launch review\n"),
        ("    priority: high\n", "    priority: medium\n"),
    )
    diff = started(f"plan diff {edited}").body
    assert diff.text.startswith("Loading")
    assert "~ task T2 (title)" in diff.details
    assert "- task T12" in diff.details  # Accessibility was T12; no other task is renumbered
    assert "+ task T25" in diff.details  # the new task gets the next number
    # agent-b1 now shares its 80h among 3 tasks instead of 4, agent-c2 among 5:
    # their estimates change, and nothing else does.
    assert [line for line in diff.details if "task" in line] == [
        "~ task T2 (title)",
        "~ task T9 (estimate)",
        "~ task T10 (estimate)",
        "~ task T11 (estimate)",
        "~ task T21 (estimate)",
        "~ task T22 (estimate)",
        "~ task T23 (estimate)",
        "~ task T24 (estimate)",
        "+ task T25",
        "- task T12",
    ]
    assert "~ stream stream-b-frontend (priority)" in diff.details
    with Session(engine) as session:  # a diff applies nothing
        assert session.exec(select(Task.title).where(Task.key == "T2")).one() == "Alembic migration"

    reply = started(f"plan load {edited}")
    assert "run state kept" in reply.body.text
    with Session(engine) as session:
        tasks = {t.key: t for t in session.exec(select(Task))}
        assert tasks["T1"].status == "done" and tasks["T1"].done_count == 1
        assert tasks["T2"].status == "in-progress" and tasks["T2"].title == "Alembic migration scripts"
        assert tasks["T12"].archived  # kept with its history, off the dashboard
        new = [t for t in tasks.values() if t.title == "Post-launch review"]
        assert len(new) == 1 and new[0].status == "ready"
        streams = {s.key: s for s in session.exec(select(Stream))}
        assert streams["stream-b-frontend"].priority == "medium"
        assert streams["stream-c-testing"].status == "paused"
        agent = session.exec(select(Agent).where(Agent.key == "agent-c2")).one()
        assert agent.stream_id == streams["stream-a-backend"].id  # the file did not move it back
    assert started("status").body.counts.total == 24  # one archived, one added


def test_moving_an_agent_in_the_file_moves_it(loaded, engine, tmp_path):
    edited = _edited(
        tmp_path,
        (
            "    stream: stream-c-testing\n    tasks:\n      - CI/CD",
            "    stream: stream-a-backend\n    tasks:\n      - CI/CD",
        ),
        ("    agents: 2\n    priority: critical", "    agents: 3\n    priority: critical"),
        ("    type: qa\n    agents: 2", "    type: qa\n    agents: 1"),
    )
    loaded(f"plan load {edited}")
    with Session(engine) as session:
        agent = session.exec(select(Agent).where(Agent.key == "agent-c2")).one()
        assert session.get(Stream, agent.stream_id).key == "stream-a-backend"


def test_estimates_fill_the_plan_and_tasks_run_back_to_back(loaded, engine):
    with Session(engine) as session:
        rows = session.exec(
            select(Task.key, Task.estimate_ws, Task.planned_start_ws, Task.planned_due_ws)
            .where(Task.key.in_(["T5", "T6", "T7", "T8"]))
            .order_by(Task.id)
        ).all()
    # agent-a2: 10 days x 8h = 80h; "API endpoints" is given 2d = 16h; the other
    # three share the remaining 64h: 21h20m each, one after the other.
    share = 64 * 3600 // 3
    assert rows == [
        ("T5", share, 0, share),
        ("T6", share, share, 2 * share),
        ("T7", share, 2 * share, 3 * share),
        ("T8", 16 * 3600, 3 * share, 3 * share + 16 * 3600),
    ]


def test_plan_load_and_refusals_are_audited(loaded, engine):
    with pytest.raises(CommandError):
        loaded("pause nowhere")
    with Session(engine) as session:
        entries = session.exec(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(e.command.split()[0], e.outcome) for e in entries] == [("plan", "ok"), ("pause", "refused")]
    assert entries[0].actor == "cli:tester" and entries[0].plan_key == "TR-ORCH-001"
    assert "unknown stream 'nowhere'" in entries[1].message
