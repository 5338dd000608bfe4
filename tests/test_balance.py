"""Load balancing on the scheduler's tick, the critical path, and a lead's undo (docs/semantics.md).

Small plans written for each rule, so every figure is easy to check by hand:
working days Mon–Fri 09:00–17:00 Paris (8h a day), started Monday 2026-01-05 09:00.
Announcements go through the real alert pipeline to the Slack stand-in.
"""

import json
from pathlib import Path

import pytest
import yaml
from slack_sdk import WebClient
from sqlmodel import Session, select

from bot import scheduler
from commands.core.errors import CommandError, PermissionDenied
from models.db.store import make_engine, upgrade
from models.db.tables import AuditEntry, Event, Move, Plan, Task
from models.rules.balance import balance
from tests.clock import MONDAY_9AM_PARIS
from tests.conftest import EXAMPLE_PLAN, LEAD, STRANGER, Runner
from tests.serve_process import ServeProcess, block_action

CHANNEL = "#team"


# The one rule most of these tests run: move work off an agent above 90% utilization.
REDISTRIBUTE = [{"when": "agent-utilization > 90%", "then": "redistribute-tasks"}]


def gate(trigger: str, action: str) -> dict:
    """A coordination rule: when `trigger` is raised, `action` is raised."""
    return {"trigger": trigger, "action": action}


def plan_file(tmp_path, agents: dict, *, rules: list, coordination: dict | None = None) -> str:
    """A one-stream plan: agents alpha/beta (Build: alpha primary, beta backup), and the given rules."""
    doc = {
        "id": "LB-1",
        "title": "Balancing",
        "timezone": "Europe/Paris",
        "working-days": ["mon", "tue", "wed", "thu", "fri"],
        "working-hours": ["09:00", "17:00"],
        "duration-days": 10,
        "channel": CHANNEL,
        "roles": {"leads": ["U0LEAD0001"]},
        "streams": [
            {"id": "main", "type": "backend", "agents": len(agents)},
            {"id": "side", "type": "qa", "agents": 1},
        ],
        "agents": {
            **agents,
            "gamma": {
                "name": "Gamma",
                "stream": "side",
                "tasks": [{"title": "Side work", "estimate": "8h", "type": "Check"}],
            },
        },
        "delegation-matrix": [
            {"task-type": "Build", "primary": "alpha", "backup": "beta"},
            {"task-type": "Check", "primary": "gamma"},
        ],
        "load-balancing": rules,
        "coordination": coordination or {},
        "sync-schedule": [],
    }
    path = tmp_path / "lb.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(path)


def build_tasks(*titles_and_estimates, **extra):
    return [{"title": t, "estimate": e, "type": "Build", **extra} for t, e in titles_and_estimates]


@pytest.fixture
def ticking(run, slack):
    """Runs the scheduler's tick and delivery at the test's clock."""
    scheduler.use(run.engine, WebClient(token="xoxb-test", base_url=slack.url), clock=lambda: run.now)

    def tick():
        scheduler.tick()
        scheduler.deliver()

    return tick


def owners(run) -> dict[str, str]:
    return {row[0]: row[3] for row in run("task list --plan LB-1").body.rows}


def announcements(slack) -> list[dict]:
    """The load-balancing posts in the plan's channel: text and buttons."""
    found = []
    for call in slack.calls_to("chat.postMessage"):
        blocks = call.body["blocks"]
        blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
        if (call.body["channel"] == CHANNEL and "load-balancing" in json.dumps(blocks)) or " · " in call.body["text"]:
            buttons = [
                (e["action_id"], e["value"]) for b in blocks for e in b.get("elements", []) if e.get("type") == "button"
            ]
            if buttons and buttons[0][0].startswith("move_"):
                found.append({"channel": call.body["channel"], "text": call.body["text"], "buttons": buttons})
    return found


def moves(engine) -> list[Move]:
    with Session(engine) as session:
        return session.exec(select(Move).order_by(Move.id)).all()


# --- redistribute-tasks -----------------------------------------------------------------------


@pytest.fixture
def overloaded(tmp_path, run, ticking):
    """alpha: four 4h Build tasks (16h); beta: one 4h task; alpha starts working at once."""
    agents = {
        "alpha": {
            "name": "Alpha",
            "stream": "main",
            "tasks": build_tasks(("A1", "4h"), ("A2", "4h"), ("A3", "4h"), ("A4", "4h")),
        },
        "beta": {"name": "Beta", "stream": "main", "tasks": build_tasks(("B1", "4h"))},
    }
    run(f"plan load {plan_file(tmp_path, agents, rules=REDISTRIBUTE)}")
    run("start LB-1")
    run("task start T1")  # A1, alpha: busy from 09:00
    run.advance(hours=1)
    return ticking


def test_an_overloaded_agent_hands_its_last_queued_task_to_the_least_loaded(overloaded, run, slack):
    overloaded()
    # alpha: busy 1h of 1h = 100% > 90%, open 16h; beta: 0%, open 4h; 4h + 4h (A4) < 16h → A4 moves.
    assert owners(run) == {"T1": "alpha", "T2": "alpha", "T3": "alpha", "T4": "beta", "T5": "beta", "T6": "gamma"}
    [move] = moves(run.engine)
    assert (move.key, move.rule, move.status) == ("M1", "redistribute-tasks", "applied")
    [posted] = announcements(slack)
    assert posted["channel"] == CHANNEL
    assert "T4 'A4' moved from alpha to beta" in posted["text"] and "100% utilization" in posted["text"]
    assert posted["buttons"] == [("move_undo", "LB-1|M1")]
    with Session(run.engine) as session:
        audit = session.exec(select(AuditEntry).where(AuditEntry.actor == "load-balancer")).one()
    assert audit.command == "load-balancing redistribute-tasks (M1)" and audit.source == "scheduler"


def planned(run, key: str) -> tuple[float, float]:
    """A task's planned window, in working hours from the start."""
    with Session(run.engine) as session:
        task = session.exec(select(Task).where(Task.key == key)).one()
    return task.planned_start_ws / 3600, task.planned_due_ws / 3600


def test_a_moved_task_goes_ahead_of_the_receivers_waiting_work(tmp_path, run, ticking):
    agents = {
        "alpha": {
            "name": "Alpha",
            "stream": "main",
            "tasks": build_tasks(("A1", "4h"), ("A2", "4h"), ("A3", "4h"), ("A4", "4h")),
        },
        "beta": {
            "name": "Beta",
            "stream": "main",
            "tasks": [{"title": "B1", "estimate": "4h", "type": "Build", "after": "go-beta"}],
        },
    }
    rules = [{"when": "agent-utilization > 90%", "then": "redistribute-tasks"}]
    coordination = {"main": [gate("design-signed", "go-beta")]}
    run(f"plan load {plan_file(tmp_path, agents, rules=rules, coordination=coordination)}")
    run("start LB-1")
    run("task start T1")
    run.advance(hours=1)
    ticking()
    # beta: open 4h (B1, waiting for go-beta, which waits for an event raised by hand);
    # 4h + 4h < alpha's 16h → A4 moves, and
    # goes before B1: it runs from now (1h) to 5h; B1 follows, 5h–9h.
    assert owners(run)["T4"] == "beta"
    assert planned(run, "T4") == (1, 5) and planned(run, "T5") == (5, 9)


def test_a_move_is_planned_from_now_at_the_end_of_the_receivers_queue(overloaded, run):
    overloaded()
    with Session(run.engine) as session:
        a4 = session.exec(select(Task).where(Task.key == "T4")).one()
        a3 = session.exec(select(Task).where(Task.key == "T3")).one()
    # beta's B1 runs 0–4h; A4 follows it: 4h–8h. alpha's A3 stays 8h–12h.
    assert (a4.planned_start_ws, a4.planned_due_ws) == (4 * 3600, 8 * 3600)
    assert (a3.planned_start_ws, a3.planned_due_ws) == (8 * 3600, 12 * 3600)


def test_balancing_stops_when_a_move_would_not_shorten_the_longest_queue(overloaded, run, slack):
    overloaded()
    run.advance(minutes=1)
    overloaded()
    # Now alpha 12h open, beta 8h: A3 would make beta 12h, not less than 12h → no second move.
    assert len(moves(run.engine)) == 1 and len(announcements(slack)) == 1


def test_a_lead_undoes_a_move_and_the_rule_leaves_that_task_alone(overloaded, run):
    overloaded()
    with pytest.raises(PermissionDenied):
        run("moves undo M1 --plan LB-1", actor=STRANGER)
    assert owners(run)["T4"] == "beta"  # the refusal changed nothing
    reply = run("moves undo M1 --plan LB-1", actor=LEAD)
    assert reply.announce and "Undid M1 (redistribute-tasks): T4 is back with alpha" in reply.body.text
    assert owners(run)["T4"] == "alpha"
    assert planned(run, "T4") == (12, 16)  # its place and window before the move: after A1–A3
    run.advance(minutes=1)
    overloaded()
    assert owners(run)["T4"] == "alpha"  # moved once, undone: never moved again by a rule
    assert [(m.key, m.status, m.undone_by) for m in moves(run.engine)] == [("M1", "undone", "lead")]
    with pytest.raises(CommandError, match="already undone"):
        run("moves undo M1 --plan LB-1", actor=LEAD)


def test_moves_lists_what_the_rules_did(overloaded, run):
    overloaded()
    table = run("moves --plan LB-1").body
    assert table.columns[:6] == ["Move", "When (UTC)", "Rule", "Task", "Change", "Status"]
    assert table.rows[0][:6] == ["M1", "2026-01-05 09:00", "redistribute-tasks", "T4", "alpha → beta", "applied"]


def test_nobody_receives_while_they_are_over_the_limit(tmp_path, run, ticking):
    agents = {
        "alpha": {
            "name": "Alpha",
            "stream": "main",
            "tasks": build_tasks(("A1", "4h"), ("A2", "4h"), ("A3", "4h"), ("A4", "4h")),
        },
        "beta": {"name": "Beta", "stream": "main", "tasks": build_tasks(("B1", "4h"), ("B2", "4h"))},
    }
    run(f"plan load {plan_file(tmp_path, agents, rules=REDISTRIBUTE)}")
    run("start LB-1")
    run("task start T1")
    run("task start T5")  # beta busy too: 100% > 90%
    run.advance(hours=1)
    ticking()
    assert moves(run.engine) == []


# --- allocate-backup-agent --------------------------------------------------------------------


def test_a_late_stream_gets_the_backup_for_its_next_queued_task(tmp_path, run, ticking, slack):
    agents = {
        "alpha": {"name": "Alpha", "stream": "main", "tasks": build_tasks(("A1", "2h"), ("A2", "4h"), ("A3", "4h"))},
        "beta": {"name": "Beta", "stream": "main", "tasks": build_tasks(("B1", "2h"))},
    }
    rules = [{"when": "stream-delay > 2 hours", "then": "allocate-backup-agent"}]
    run(f"plan load {plan_file(tmp_path, agents, rules=rules)}")
    run("start LB-1")
    run("task start T1")
    run("task start T4")
    run.advance(hours=2)
    run("task done T4")  # beta done with B1 at 11:00, idle since: under the limit
    run.advance(hours=2)  # 13:00: A1 (due 11:00) is 2h late: not more than 2h
    ticking()
    assert moves(run.engine) == []
    run.advance(minutes=30)  # 2h30 late > 2h → A2, alpha's next queued task, goes to beta (backup for Build)
    ticking()
    assert owners(run)["T2"] == "beta" and owners(run)["T3"] == "alpha"
    [posted] = announcements(slack)
    assert "T2 'A2' moved from alpha to beta" in posted["text"] and "main is 2h 30m late" in posted["text"]


# --- prioritize-unblocking --------------------------------------------------------------------


def test_a_task_others_wait_for_goes_ahead_of_its_agents_other_work(tmp_path, run, ticking, slack):
    agents = {
        "alpha": {
            "name": "Alpha",
            "stream": "main",
            "tasks": [
                *build_tasks(("A1", "4h"), ("A2", "4h")),
                {"title": "Contract", "estimate": "4h", "type": "Build", "signals": "contract-ready"},
            ],
        },
        "beta": {
            "name": "Beta",
            "stream": "main",
            "tasks": [{"title": "Client", "estimate": "4h", "type": "Build", "after": "client-start"}],
        },
    }
    rules = [{"when": "blocking-detected", "then": "prioritize-unblocking"}]
    coordination = {"main": [gate("contract-ready", "client-start")]}
    run(f"plan load {plan_file(tmp_path, agents, rules=rules, coordination=coordination)}")
    run("start LB-1")
    health = {a.key: a.current_task for a in run("health --plan LB-1").body.agents}
    assert health["alpha"] == "T1"  # queue order: A1 first
    run.advance(minutes=1)  # Client (T4) was planned to start at 0h and still waits for client-start
    ticking()
    [move] = moves(run.engine)
    assert (move.rule, move.old_priority, move.new_priority) == ("prioritize-unblocking", 0, 2)
    health = {a.key: a.current_task for a in run("health --plan LB-1").body.agents}
    assert health["alpha"] == "T3"  # Contract now goes first
    [posted] = announcements(slack)
    assert "T3 'Contract' goes first: T4 waits for `client-start`" in posted["text"]
    run("moves undo M1 --plan LB-1", actor=LEAD)
    assert {a.key: a.current_task for a in run("health --plan LB-1").body.agents}["alpha"] == "T1"


# --- the critical path, and reallocate-resources --------------------------------------------


def test_the_example_plans_critical_path_runs_through_its_waits(loaded):
    shown = loaded("plan show TR-ORCH-001").body
    # agent-a2's four Services tasks end at 80h (10 days); agent-c1's unit tests wait for
    # service-complete, then integration testing and performance testing: 3 × 20h → 140h = 17.5 days.
    assert (
        "critical path: T5 → T6 → T7 → T8 → T18 → T19 → T20, ending after 17.5 working days: "
        "7.5 past duration-days (10)"
    ) in "\n".join(shown.details)


def test_a_late_critical_task_brings_a_proposal_a_lead_applies_and_undoes(tmp_path, run, ticking, slack):
    agents = {
        "alpha": {"name": "Alpha", "stream": "main", "tasks": build_tasks(("A1", "4h"), ("A2", "4h"))},
        "beta": {"name": "Beta", "stream": "main", "tasks": build_tasks(("B1", "2h"))},
    }
    rules = [{"when": "critical-path-at-risk", "then": "reallocate-resources"}]
    run(f"plan load {plan_file(tmp_path, agents, rules=rules)}")
    with Session(run.engine) as session:  # alpha's A1 → A2 ends last (8h): the critical path
        assert session.exec(select(Task.key).where(Task.critical.is_(True)).order_by(Task.id)).all() == ["T1", "T2"]
    run("start LB-1")
    run("task start T1")
    run.advance(hours=6)  # A1 due at 4h, 6h in: 2h late, not more than the 2h threshold
    ticking()
    assert moves(run.engine) == []
    run.advance(minutes=5)
    ticking()
    [move] = moves(run.engine)
    # gamma (side stream, no critical task, 8h open) is proposed: nothing is moved yet.
    assert (move.status, move.command) == ("proposed", "reallocate --from gamma --to main")
    [posted] = announcements(slack)
    assert (
        posted["buttons"] == [("move_apply", "LB-1|M1")]
        and "Proposed: `reallocate --from gamma --to main`" in posted["text"]
    )
    assert {a.key: a.stream for a in run("health --plan LB-1").body.agents}["gamma"] == "side"
    run.advance(minutes=5)
    ticking()
    assert len(moves(run.engine)) == 1  # proposed once for that task
    with pytest.raises(CommandError, match="nothing to undo"):
        run("moves undo M1 --plan LB-1", actor=LEAD)
    run("moves apply M1 --plan LB-1", actor=LEAD)
    assert {a.key: a.stream for a in run("health --plan LB-1").body.agents}["gamma"] == "main"
    run("moves undo M1 --plan LB-1", actor=LEAD)
    assert {a.key: a.stream for a in run("health --plan LB-1").body.agents}["gamma"] == "side"


# --- the plan file, and assigning by hand -------------------------------------------------------


def test_a_rule_pairing_an_action_with_another_condition_is_refused_at_load(tmp_path, run):
    agents = {
        "alpha": {"name": "Alpha", "stream": "main", "tasks": build_tasks(("A1", "4h"))},
        "beta": {"name": "Beta", "stream": "main", "tasks": []},
    }
    path = plan_file(tmp_path, agents, rules=[{"when": "stream-delay > 2 hours", "then": "redistribute-tasks"}])
    with pytest.raises(CommandError) as refused:
        run(f"plan load {path}")
    assert "redistribute-tasks acts on 'agent-utilization', not on 'stream-delay > 2 hours'" in str(refused.value)
    assert run("plan list").body.rows == []


def test_task_assign_refuses_what_it_cannot_do(started):
    with pytest.raises(CommandError, match="already agent-a2's"):
        started("task assign T8", actor=LEAD)
    started("task assign T8 --agent agent-a1", actor=LEAD)
    assert [r[3] for r in started("task list --agent agent-a1").body.rows][-1:] == ["agent-a1"]
    started("task start T1")
    with pytest.raises(CommandError, match="T1 is in-progress: only a task not yet started changes hands"):
        started("task assign T1 --agent agent-a2", actor=LEAD)


def test_example_plan_is_unchanged_by_the_rules_when_everyone_is_equally_busy(started, slack, ticking):
    for task in ("T1", "T5", "T9", "T13", "T17", "T21"):  # every agent starts its first task
        started(f"task start {task}")
    started.advance(hours=3)
    ticking()
    # All at 100% utilization: nobody can receive; nothing is late, nothing waits past its start.
    assert moves(started.engine) == []


def test_a_risk_trigger_acting_on_its_own_is_written_to_the_audit_log(started):
    started("metric test-coverage 70%")  # test-coverage < 80% → block-deployment
    with Session(started.engine) as session:
        entry = session.exec(select(AuditEntry).where(AuditEntry.actor == "risk-engine")).one()
    assert entry.command == "risk trigger: test-coverage < 80% → block-deployment"
    assert "DEPLOYMENT BLOCKED: test-coverage < 80%" in entry.message and entry.plan_key == "TR-ORCH-001"


# --- in Slack: the Undo button on the announcement, through a running `serve` ----------------


def test_undo_from_the_announcements_button_in_slack(tmp_path, slack):
    """`serve --http` delivers the move's announcement with its Undo button; a lead's click undoes it."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    run = Runner(engine, MONDAY_9AM_PARIS)
    agents = {
        "alpha": {
            "name": "Alpha",
            "stream": "main",
            "tasks": build_tasks(("A1", "4h"), ("A2", "4h"), ("A3", "4h"), ("A4", "4h")),
        },
        "beta": {"name": "Beta", "stream": "main", "tasks": build_tasks(("B1", "4h"))},
    }
    run(f"plan load {plan_file(tmp_path, agents, rules=REDISTRIBUTE)}")
    run("start LB-1")
    run("task start T1")
    run.advance(hours=1)
    with Session(engine) as session:  # the tick's load balancing, on the test's clock
        balance(session, session.exec(select(Plan)).one(), run.now)
        session.commit()
    server = ServeProcess(tmp_path, slack.url, url)
    try:
        server.wait_healthy()
        [posted] = [c for c in slack.wait_for("chat.postMessage", timeout=15) if c.body["channel"] == CHANNEL]
        blocks = json.loads(posted.body["blocks"]) if isinstance(posted.body["blocks"], str) else posted.body["blocks"]
        [button] = [e for b in blocks for e in b.get("elements", []) if e.get("type") == "button"]
        assert (button["action_id"], button["value"], button["text"]["text"]) == ("move_undo", "LB-1|M1", "Undo")
        server.interaction(block_action("move_undo", button["value"], slack.response_url("u1"), user="U0NOBODY01"))
        refusal = slack.wait_for("response:u1")[0].body
        assert refusal["response_type"] == "ephemeral" and "only a lead" in refusal["text"]
        server.interaction(block_action("move_undo", button["value"], slack.response_url("u2")))
        undone = slack.wait_for("response:u2")[0].body
        assert undone["response_type"] == "in_channel" and "Undid M1 (redistribute-tasks)" in undone["text"]
    finally:
        server.stop()
    assert owners(run)["T4"] == "alpha"
    engine.dispose()


def test_an_announcement_is_posted_once_where_a_route_already_reaches_the_plan_channel(tmp_path, run, ticking, slack):
    agents = {
        "alpha": {
            "name": "Alpha",
            "stream": "main",
            "tasks": build_tasks(("A1", "4h"), ("A2", "4h"), ("A3", "4h"), ("A4", "4h")),
        },
        "beta": {"name": "Beta", "stream": "main", "tasks": build_tasks(("B1", "4h"))},
    }
    path = plan_file(tmp_path, agents, rules=[{"when": "agent-utilization > 90%", "then": "redistribute-tasks"}])
    doc = yaml.safe_load(Path(path).read_text())
    doc["alerts"] = [{"level": "info", "channel": ["team-room"]}]
    doc["destinations"] = {"team-room": {"slack": CHANNEL}}
    Path(path).write_text(yaml.safe_dump(doc))
    run(f"plan load {path}")
    run("start LB-1")
    run("task start T1")
    run.advance(hours=1)
    ticking()
    assert [c.body["channel"] for c in slack.calls_to("chat.postMessage")] == [CHANNEL]


def test_a_plan_the_tick_fails_on_does_not_stop_the_others(tmp_path, run, ticking, caplog):
    agents = {
        "alpha": {"name": "Alpha", "stream": "main", "tasks": build_tasks(("A1", "4h"))},
        "beta": {"name": "Beta", "stream": "main", "tasks": build_tasks(("B1", "4h"))},
    }
    run(f"plan load {plan_file(tmp_path, agents, rules=REDISTRIBUTE)}")
    run(f"plan load {EXAMPLE_PLAN}")
    run("start LB-1")
    run("start TR-ORCH-001")
    with Session(run.engine) as session:  # a rule the code cannot read (a store edited by hand, say)
        plan = session.exec(select(Plan).where(Plan.key == "LB-1")).one()
        plan.spec = {**plan.spec, "load-balancing": [{"when": "agent-utilization >> 90", "then": "redistribute-tasks"}]}
        session.add(plan)
        session.commit()
    run.advance(hours=8, minutes=1)  # Monday 17:01: day 1 is complete for both plans
    ticking()
    with Session(run.engine) as session:
        days = session.exec(
            select(Plan.key).join(Event, Event.plan_id == Plan.id).where(Event.name == "day-1-complete")
        ).all()
    assert days == ["TR-ORCH-001"]  # LB-1's tick failed (logged, with the plan's name); the other went on
    assert "the tick's monitor of plan LB-1 failed" in caplog.text
    assert "the tick's balance of plan LB-1 failed" in caplog.text
