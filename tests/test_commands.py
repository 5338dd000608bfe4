"""The subcommands against the store: what users see, and that refusals change nothing."""

import pytest
from sqlalchemy import text
from sqlmodel import Session, SQLModel, select

from bot.text import render
from commands.core.context import Actor
from commands.core.errors import CommandError, PermissionDenied, UsageError
from models.db.tables import Agent, Alert, AuditEntry, Stream, Task
from tests.conftest import EXAMPLE_PLAN, LEAD, STRANGER

AGENT_B2 = Actor(id="slack:U0AGENTB2", name="b2", source="slack", slack_user="U0AGENTB2")


BOOKKEEPING = ("audit_log", "processed_events", "accepted_requests")  # who did what, which requests came


def snapshot(engine) -> dict:
    """Every row of every table but the bookkeeping: what 'changes nothing' compares."""
    with engine.connect() as connection:
        return {
            table.name: connection.execute(
                text(f"SELECT * FROM {table.name} ORDER BY {', '.join(c.name for c in table.primary_key)}")
            ).all()
            for table in SQLModel.metadata.sorted_tables
            if table.name not in BOOKKEEPING
        }


def refuses(run, engine, line, actor=None, error=CommandError):
    before = snapshot(engine)
    with pytest.raises(error) as caught:
        run(line, **({"actor": actor} if actor else {}))
    assert snapshot(engine) == before
    return caught.value.message


# --- names ------------------------------------------------------------------


def test_names_resolve_by_unique_prefix(started):
    reply = started("pause stream-b")
    assert reply.body.text.startswith("Paused stream-b-frontend")
    assert reply.announce


def test_ambiguous_and_unknown_names_list_the_candidates(started, engine):
    message = refuses(started, engine, "pause stream-")
    assert "ambiguous" in message and "stream-a-backend, stream-b-frontend, stream-c-testing" in message
    message = refuses(started, engine, "pause stream-z")
    assert message == ("unknown stream 'stream-z'; known: stream-a-backend, stream-b-frontend, stream-c-testing")
    assert (
        refuses(started, engine, "validate --checkpoint cp-9")
        == "unknown checkpoint 'cp-9'; known: cp-1, cp-2, cp-3, cp-4"
    )


def test_candidates_are_listed_in_the_plans_order_not_as_text(started, engine):
    """T2 comes before T10, as the plan lists them."""
    message = refuses(started, engine, "task done T")
    assert "it could be T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, …" in message
    message = refuses(started, engine, "task done T99")
    assert message.startswith("unknown task 'T99'; known: T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, …")


def test_a_plan_bound_to_a_channel_needs_no_id(started, engine):
    from commands.core.dispatch import Invocation, execute
    from commands.core.grammar import tokenize

    reply = execute(
        engine, tokenize("status"), Invocation(LEAD, "slack", "C123", ("C123", "#tr-orchestration")), now=started.now
    )
    assert reply.body.plan == "TR-ORCH-001"


def test_with_two_plans_the_plan_must_be_named(started, engine, tmp_path):
    other = tmp_path / "other.yml"
    other.write_text("id: OTHER-1\nstreams: [{id: s}]\nagents: {a: {stream: s, tasks: [x]}}\n")
    started(f"plan load {other}")
    assert started("status").body.plan == "TR-ORCH-001"  # the only running one
    started("start OTHER-1")
    message = refuses(started, engine, "status")
    assert message == "which plan? name it with --plan (plans: OTHER-1, TR-ORCH-001)"
    assert started("status OTHER").body.plan == "OTHER-1"


# --- permissions ------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "pause stream-b",
        "resume stream-b",
        "reallocate --from agent-c1 --to stream-a",
        "stop --reason x",
        "validate --checkpoint cp-1 --force --reason y",
        "task add 'New thing' --type Database",
        "task start T1",
    ],
)
def test_privileged_commands_are_refused_to_non_leads_and_audited(started, engine, line):
    started("pause stream-b") if line.startswith("resume") else None
    message = refuses(started, engine, line, actor=STRANGER, error=PermissionDenied)
    assert "only a lead of TR-ORCH-001 may" in message and message.endswith("leads: U0LEAD0001")
    with Session(engine) as session:
        last = session.exec(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert (last.actor, last.outcome, last.plan_key) == ("slack:U0NOBODY01", "refused", "TR-ORCH-001")


def test_leads_from_slack_may_run_privileged_commands(started):
    assert started("pause stream-b", actor=LEAD).announce


def test_reads_are_open_to_everyone(started):
    for line in ("status", "health", "task list", "alerts", "plan show", "help"):
        # A stranger reads what a lead reads: nothing refused, nothing hidden.
        assert render(started(line, actor=STRANGER)) == render(started(line, actor=LEAD)), line
    audit = started("audit", actor=STRANGER).body
    assert [row[2:5] for row in audit.rows[:2]] == [["lead", "slack", "help"], ["stranger", "slack", "help"]]


def test_agents_may_update_their_own_tasks_only(started, engine):
    with Session(engine) as session:
        agent = session.exec(select(Agent).where(Agent.key == "agent-b2")).one()
        agent.slack_user = "U0AGENTB2"
        session.add(agent)
        session.commit()
    assert started("task start T13", actor=AGENT_B2).body.text.startswith(
        "T13 'Component implementation' is now in-progress"
    )
    refuses(started, engine, "task start T1", actor=AGENT_B2, error=PermissionDenied)


# --- tasks ----------------------------------------------------------------------


def test_task_lifecycle_and_its_refusals(started, engine):
    assert "waits for `frontend-integration-start`" in refuses(started, engine, "task start T15")
    started("task start T1")
    assert "T1 is in-progress; only a task that is ready or blocked can be started" in refuses(
        started, engine, "task start T1"
    ).replace("task T1", "T1")
    started("task block T1 --reason 'waiting for DBA'")
    started("task start T1")
    started("task done T1")
    started("task reopen T1")
    with Session(engine) as session:
        task = session.exec(select(Task).where(Task.key == "T1")).one()
    assert (task.status, task.done_count, task.rework_count) == ("ready", 1, 1)


def test_no_task_starts_in_a_paused_stream_or_a_stopped_plan(started, engine):
    started("pause stream-a")
    assert "stream stream-a-backend is paused" in refuses(started, engine, "task start T1")
    started("resume stream-a")
    started("stop --reason 'hold on'")
    assert "plan TR-ORCH-001 is stopped" in refuses(started, engine, "task start T1")
    assert "plan TR-ORCH-001 is stopped" in refuses(started, engine, "resume stream-a")


def test_task_list_filters_and_counts(started):
    started("task start T5")
    table = started("task list --agent agent-a2").body
    assert [row[0] for row in table.rows] == ["T5", "T6", "T7", "T8"]
    assert table.rows[0][2] == "in-progress" and table.rows[3][5] == "2d"
    assert started("task list --status todo").body.total == 3
    limited = started("task list --limit 5").body
    assert (len(limited.rows), limited.total) == (5, 24)


def test_a_signal_readies_the_tasks_waiting_for_its_action(started, engine):
    started("task done T8")  # "API endpoints" signals api-endpoints-ready
    with Session(engine) as session:
        assert session.exec(select(Task.status).where(Task.key == "T15")).one() == "ready"


def test_an_event_fires_its_coordination_action_once(started):
    reply = started("event day-5-complete")
    assert reply.body.details == ["day-5-complete → integration-testing (all-streams): 1 task(s) ready"]
    assert started("event day-5-complete").body.details == []


def test_a_stream_whose_services_are_all_done_raises_service_complete(started, engine):
    for key in ("T5", "T6", "T7"):
        started(f"task done {key}")
    reply = started("task done T8")
    assert "service-complete → unit-tests-start (stream-a-c): 1 task(s) ready" in reply.body.details
    with Session(engine) as session:
        assert session.exec(select(Task.status).where(Task.key == "T18")).one() == "ready"


# --- delegation ------------------------------------------------------------------


def test_a_new_task_goes_to_the_primary_of_its_type(started):
    reply = started("task add 'Index the tickets table' --type database --estimate 4h")
    assert reply.body.text == (
        "Added T25 'Index the tickets table' to stream-a-backend, assigned to agent-a1 "
        "(primary for Database); estimate 4h."
    )


def test_a_new_task_goes_to_the_backup_when_the_primary_is_paused(started):
    started("reallocate --from agent-b2 --to stream-a-backend")
    started("pause stream-b")
    reply = started("task add 'Dark mode' --type 'UI Design' --stream stream-b")
    assert "to stream-b-frontend, assigned to agent-b2 (backup for UI Design: agent-b1 is PAUSED)" in reply.body.text


def test_with_primary_and_backup_both_paused_the_primary_keeps_it_and_says_so(started):
    started("pause stream-b")
    reply = started("task add 'Dark mode' --type 'UI Design'")
    assert "assigned to agent-b1 (primary for UI Design, although PAUSED; no backup is available)" in reply.body.text


def test_an_unknown_task_type_lists_the_known_ones(started, engine):
    message = refuses(started, engine, "task add 'x' --type Marketing")
    assert "Database, Services, UI Design, Components, Testing, DevOps" in message


# --- gates ------------------------------------------------------------------------


def test_a_checkpoint_passes_when_its_criteria_are_ticked(started):
    reply = started("validate --checkpoint cp-1 --criterion 1,2")
    assert reply.body.note == "Ticked 1, 2; 1 to go." and not reply.body.passed
    reply = started("validate --checkpoint cp-1 --criterion 3")
    assert reply.body.passed and not reply.body.forced and reply.body.note == "All criteria met: passed."


def test_validate_refuses_with_the_unmet_criteria(started, engine):
    message = refuses(started, engine, "validate --checkpoint cp-2")
    assert message.startswith("cp-2 cannot pass: 3 of 3 criteria not met (1. OpenAPI spec finalized;")
    assert "--force --reason TEXT" in message
    assert "there is no criterion 4" in refuses(started, engine, "validate --checkpoint cp-2 --criterion 4")


def test_a_forced_pass_records_who_and_why(started, engine):
    reply = started("validate --checkpoint cp-3 --force --reason 'demo day'", actor=LEAD)
    assert reply.body.forced and reply.body.force_reason == "demo day" and reply.body.passed_by == "slack:U0LEAD0001"
    assert "already forced (demo day)" in refuses(started, engine, "validate --checkpoint cp-3 --force")


# --- the plan ------------------------------------------------------------------------


def test_stop_halts_every_stream_and_start_resumes_those_it_halted(started):
    started("pause stream-c")
    reply = started('stop --emergency --reason "Critical issue found"')
    assert reply.body.text.startswith("EMERGENCY STOP: TR-ORCH-001 is stopped (2 stream(s) halted)")
    statuses = [s.status for s in started("status").body.streams]
    assert statuses == ["Stopped", "Stopped", "Paused"]
    assert started("execute TR-ORCH-001 --start-now").body.text.startswith("Resumed TR-ORCH-001")
    assert [s.status for s in started("status").body.streams] == ["Starting", "Starting", "Paused"]


def test_state_errors_say_what_would_work(started, engine):
    assert "already running" in refuses(started, engine, "start TR-ORCH-001")
    assert "is not paused: `pause stream-a-backend`" in refuses(started, engine, "resume stream-a")
    started("pause stream-a")
    assert "already paused: `resume stream-a-backend`" in refuses(started, engine, "pause stream-a")
    assert "name one stream to pause, not two" in refuses(
        started, engine, "pause stream-a --stream stream-b", error=UsageError
    )


def test_reallocate_moves_the_agent(started, engine):
    started("reallocate --from agent-c1 --to stream-a-backend")
    with Session(engine) as session:
        agent = session.exec(select(Agent).where(Agent.key == "agent-c1")).one()
        assert session.get(Stream, agent.stream_id).key == "stream-a-backend"
    assert "already in stream-a-backend" in refuses(started, engine, "reallocate --from agent-c1 --to stream-a")


# --- metrics and alerts -------------------------------------------------------------------


def test_a_reported_metric_is_shown_against_its_target(started):
    assert started("metric code-coverage 94%").body.text == "Recorded code-coverage = 94% (target > 90%: met)."
    figures = {m.name: m for m in started("status").body.metrics}
    assert (figures["code-coverage"].display, figures["code-coverage"].ok) == ("94%", True)
    started("metric review-turnaround '3 hours'")
    figures = {m.name: m for m in started("status").body.metrics}
    assert (figures["review-turnaround"].display, figures["review-turnaround"].ok) == ("3 hours", False)


def test_a_bad_metric_value_says_how_to_write_one(started, engine):
    assert "e.g. 78%, 620ms" in refuses(started, engine, "metric test-coverage lots")


def test_alerts_are_acknowledged_and_resolved(started, engine):
    with Session(engine) as session:
        session.add(Alert(plan_id=1, event_name="agent-down", level="critical", text="agent-c2 is down"))
        session.commit()
    assert started("alerts --open").body.rows[0][:4] == ["#1", "critical", "agent-down", "open"]
    assert started("ack 1", actor=LEAD).body.text == "Alert #1 (agent-down) acknowledged by lead."
    assert "already acknowledged (by slack:U0LEAD0001)" in refuses(started, engine, "ack #1")
    started("resolve #1")
    assert started("alerts --open").body.rows == []
    assert "not an alert number" in refuses(started, engine, "ack twelve", error=UsageError)


def test_sync_on_the_evening_a_plan_starts_lists_no_gate_yet(loaded):
    loaded.advance(hours=10)  # Monday 19:00 Paris: after closing, so working day 1 is Tuesday
    loaded("start TR-ORCH-001")
    prompt = loaded("sync").body
    assert prompt.checkpoints_due == [] and len(prompt.agents) == 6
    loaded.advance(days=1)  # Tuesday evening: day 1, when cp-1 falls due
    assert [cp.key for cp in loaded("sync").body.checkpoints_due] == ["cp-1"]


def test_a_missed_blocker_gate_holds_the_tasks_planned_after_it(started, engine):
    started.advance(hours=8, minutes=5)  # Monday 17:05: cp-1 (day 1) is due and not passed
    started.advance(hours=16)  # Tuesday 09:05
    message = refuses(started, engine, "task start T2")  # T2 is planned Wed-Thu: after cp-1
    assert message.startswith("task T2 is held by checkpoint cp-1 (Database Schema Validation)")
    assert "`validate --checkpoint cp-1` first" in message
    assert "held by checkpoint cp-1" in refuses(started, engine, "task start T1")  # due Wednesday: after it
    started("validate --checkpoint cp-1 --force --reason 'schema reviewed by hand'")
    started("task start T1")  # the gate passed: nothing is held
    started("task start T5")


def test_without_safety_no_gate_holds_a_task(loaded, engine, tmp_path):
    unsafe = tmp_path / "unsafe.yml"
    unsafe.write_text(EXAMPLE_PLAN.read_text().replace("  safety: enabled", "  safety: disabled"))
    loaded(f"plan load {unsafe}")
    loaded("start TR-ORCH-001")
    loaded.advance(days=1, hours=1)
    assert loaded("task start T2").body.text.startswith("T2 'Alembic migration' is now in-progress")


def test_metrics_show_their_trend_since_the_previous_working_day(started, engine):
    from models.db.tables import Plan as PlanRow
    from models.rules.monitor import watch

    started("metric code-coverage 88%")
    started("task start T1")
    started.advance(hours=8, minutes=1)  # Monday 17:01: day 1 closes, computed metrics are kept
    with Session(engine) as session:
        watch(session, session.exec(select(PlanRow)).one(), started.now)
        session.commit()
    started.advance(hours=16)  # Tuesday 09:01
    started("metric code-coverage 92%")
    started("validate --checkpoint cp-1 --force --reason 'reviewed'")  # else the missed gate holds T5
    started("task start T5")  # a second agent gets busy
    started.advance(hours=4)
    figures = {m.name: m for m in started("status").body.metrics}
    assert (figures["code-coverage"].previous, figures["code-coverage"].trend) == (88.0, "up")
    # Monday's close: a1 busy 8h of 6 agents x 8h = 16.7%. Tuesday 13:01: a1 12h + a2 4h of 6 x 12h = 22.2%.
    assert figures["parallel-efficiency"].previous == pytest.approx(100 / 6, abs=0.1)
    assert figures["parallel-efficiency"].value == pytest.approx(100 * 16 / 72, abs=0.1)
    assert figures["parallel-efficiency"].trend == "up"
    assert figures["rework-rate"].trend is None  # nothing done yet: no value either day


def test_reallocate_re_plans_the_agents_open_tasks_from_now(started, engine):
    started.advance(days=2)  # Wednesday 09:00: agent-c1's queue has not started
    reply = started("reallocate --from agent-c1 --to stream-a-backend")
    assert reply.body.details == ["4 open task(s) of its queue re-planned from now"]
    with Session(engine) as session:
        rows = session.exec(
            select(Task.key, Task.planned_start_ws, Task.planned_due_ws)
            .where(Task.key.in_(["T17", "T18"]))
            .order_by(Task.id)
        ).all()
    # Two working days have passed (16h); T17 (20h) now runs 16h-36h, T18 after it.
    assert rows == [("T17", 16 * 3600, 36 * 3600), ("T18", 36 * 3600, 56 * 3600)]
