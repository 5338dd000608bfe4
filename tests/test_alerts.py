"""Alerts end to end on a fake clock: routing, delivery to real SMTP/SMS/Slack stand-ins, triggers, escalation."""

import json
from datetime import timedelta

import pytest
from slack_sdk import WebClient
from sqlmodel import Session, select

from bot import scheduler
from bot.app import web_client
from bot.delivery import Outlets, deliver_due
from commands.core.errors import CommandError
from models.db.tables import Agent, Alert, AlertDelivery, Event, Plan, Task
from models.rules.heartbeats import record_heartbeat
from tests.clock import MONDAY_9AM_PARIS
from tests.conftest import LEAD
from tests.slack_app import body_of, texts


@pytest.fixture
def outlets(slack, mailbox, sms):
    return Outlets(client=WebClient(token="xoxb-test", base_url=slack.url), smtp_url=mailbox.url, sms_url=sms.url)


def alerts(engine) -> list[Alert]:
    with Session(engine) as session:
        return session.exec(select(Alert).order_by(Alert.id)).all()


def deliveries(engine, alert_id: int) -> dict[str, str]:
    with Session(engine) as session:
        return {
            d.destination: d.status
            for d in session.exec(select(AlertDelivery).where(AlertDelivery.alert_id == alert_id))
        }


def deliver_until_quiet(engine, outlets, run, rounds: int = 12) -> None:
    """Run the worker as the scheduler would, moving the clock past each backoff."""
    for _ in range(rounds):
        deliver_due(engine, outlets, lambda: run.now)
        run.advance(seconds=61)


# --- routing ---------------------------------------------------------------------------


def test_events_go_by_their_route_else_by_their_level(started, engine):
    started("task done T1")  # task-complete: listed in the info route
    started("task block T2 --reason 'no DBA'")  # task-blocked: listed nowhere, a warning
    started("event critical-bug")  # listed in the critical route
    by_event = {a.event_name: (a.level, deliveries(engine, a.id)) for a in alerts(engine)}
    assert by_event["task-complete"] == ("info", {"slack-general": "pending"})
    assert by_event["task-blocked"] == ("warning", {"slack-dev": "pending"})
    assert by_event["critical-bug"] == ("critical", {"slack-urgent": "pending", "email": "pending", "sms": "pending"})


def test_an_alert_is_part_of_the_refused_commands_rollback(started, engine):
    with pytest.raises(CommandError):
        started("task block T99")
    assert alerts(engine) == []


# --- delivery ---------------------------------------------------------------------------


def test_every_alert_arrives_once_per_destination_despite_429_and_500(started, engine, outlets, slack, mailbox, sms):
    slack.fail_next("chat.postMessage", status=429, retry_after=0, times=4)  # beyond the SDK's own 3 retries
    slack.fail_next("chat.postMessage", status=500, times=1)
    sms.fail_next = 2
    started("event critical-bug")
    started.advance(minutes=6)  # beyond the group window: a second alert
    started("event deployment-failed")
    deliver_until_quiet(engine, outlets, started)
    posted = [c for c in slack.calls_to("chat.postMessage", include_failed=False) if c.body["channel"] == "#urgent"]
    assert sorted(c.body["text"].split(": ")[1] for c in posted) == ["Critical bug", "Deployment failed"]
    assert len(mailbox.messages) == 2 and all(m["to"] == ["oncall@example.com"] for m in mailbox.messages)
    assert sorted(m["text"] for m in sms.received) == [
        "[critical] TR-ORCH-001: Critical bug",
        "[critical] TR-ORCH-001: Deployment failed",
    ]
    assert all(set(deliveries(engine, a.id).values()) == {"sent"} for a in alerts(engine))
    deliver_until_quiet(engine, outlets, started, rounds=2)  # nothing is sent twice
    assert len(slack.calls_to("chat.postMessage", include_failed=False)) == len(posted)
    critical = next(c for c in posted if c.body["text"].endswith("Critical bug"))
    blocks = (
        critical.body["blocks"] if isinstance(critical.body["blocks"], list) else json.loads(critical.body["blocks"])
    )
    assert [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]] == [
        "alert_ack",
        "alert_resolve",
    ]


def test_an_unconfigured_destination_is_reported_not_a_crash(started, engine, slack):
    outlets = Outlets(client=WebClient(token="xoxb-test", base_url=slack.url))  # no SMTP, no SMS
    started("event critical-bug")
    deliver_until_quiet(engine, outlets, started, rounds=2)
    alert = alerts(engine)[0]
    assert deliveries(engine, alert.id) == {"slack-urgent": "sent", "email": "unconfigured", "sms": "unconfigured"}
    row = started("alerts").body.rows[0]
    assert row[-1] == "email: unconfigured; sms: unconfigured"
    with Session(engine) as session:
        errors = {d.destination: d.last_error for d in session.exec(select(AlertDelivery))}
    assert errors["email"] == "email is not configured: set SMTP_URL (smtp://user:pass@host:port)"


def test_a_repeat_within_five_minutes_updates_one_message(started, engine, outlets, slack):
    started("event test-failed")
    deliver_until_quiet(engine, outlets, started, rounds=1)
    started("event test-failed")
    deliver_until_quiet(engine, outlets, started, rounds=1)
    assert len(alerts(engine)) == 1 and alerts(engine)[0].group_count == 2
    assert len(slack.calls_to("chat.postMessage", include_failed=False)) == 1
    update = slack.calls_to("chat.update")[0].body
    assert "*WARNING* ×2" in json.dumps(update["blocks"], ensure_ascii=False)


# --- escalation -----------------------------------------------------------------------


def test_critical_alerts_are_re_sent_to_the_leads_until_acknowledged(started, engine, outlets, slack):
    from bot.delivery import escalate

    started("event critical-bug")
    assert escalate(engine, outlets, started.now) == 0
    started.advance(minutes=15)
    assert escalate(engine, outlets, started.now) == 1
    assert escalate(engine, outlets, started.now) == 0  # once per round
    assert [c.body["users"] for c in slack.calls_to("conversations.open")] == ["U0LEAD0001"]
    started("ack 1", actor=LEAD)
    started.advance(minutes=15)
    assert escalate(engine, outlets, started.now) == 0


def test_an_escalation_slack_refuses_429_waits_for_the_next_tick_and_is_not_lost(started, engine, slack):
    from bot.app import web_client
    from bot.delivery import escalate

    outlets = Outlets(client=web_client("xoxb-test", slack.url))  # the app's own: it sleeps through 429s
    started("event critical-bug")
    started.advance(minutes=15)
    slack.fail_next("conversations.open", status=429, retry_after=2)
    assert escalate(engine, outlets, started.now) == 0  # handed back: the worker did not wait the 429 out
    assert len(slack.calls_to("conversations.open")) == 1
    assert escalate(engine, outlets, started.now) == 1  # the next tick sends it
    assert escalate(engine, outlets, started.now) == 0  # once
    assert len(slack.calls_to("chat.postMessage", include_failed=False)) == 1


# --- risk triggers -----------------------------------------------------------------------


def test_a_metric_trigger_fires_once_while_true_and_rearms_when_it_clears(started, engine):
    reply = started("metric test-coverage 75%")
    assert "risk trigger fired: test-coverage < 80% (now 75%) → block-deployment" in reply.body.details
    assert started("status").body.deployment_blocked == "test-coverage < 80% (now 75%)"
    assert started("metric test-coverage 70%").body.details == []  # still true: no second firing
    assert started("metric test-coverage 85%").body.details == [
        "deployment unblocked: test-coverage < 80% no longer holds"
    ]
    assert started("status").body.deployment_blocked is None
    assert "risk trigger fired" in started("metric test-coverage 60%").body.details[0]  # re-armed
    risk_alerts = [a for a in alerts(engine) if a.event_name == "risk:test-coverage < 80%"]
    assert [a.level for a in risk_alerts] == ["warning"]  # high -> warning; the second grouped into it
    assert risk_alerts[0].group_count == 2


def test_a_lead_can_lift_a_deployment_block(started):
    started("metric test-coverage 75%")
    reply = started("unblock-deployment --reason 'coverage job was misconfigured'", actor=LEAD)
    assert reply.body.text.startswith("Deployment of TR-ORCH-001 unblocked by lead")
    assert started("status").body.deployment_blocked is None


def test_a_slow_api_adds_a_performance_review_task(started, engine):
    reply = started("metric api-response 620ms")
    assert "added T25 'Performance review' to stream-a-backend for agent-a1" in reply.body.details
    with Session(engine) as session:
        task = session.exec(select(Task).where(Task.key == "T25")).one()
    assert (task.title, task.status) == ("Performance review: api-response > 500ms", "ready")


def test_a_late_task_escalates_to_the_leads_on_the_tick(started, engine, slack):
    scheduler.use(engine, WebClient(token="xoxb-test", base_url=slack.url), clock=lambda: started.now)
    try:
        # T1 (20h from Monday 09:00) is due Wednesday 13:00; on Thursday at 10:00 it is 4h + 1h late.
        started.advance(days=3, hours=1)
        scheduler.tick()
        fired = [a for a in alerts(engine) if a.event_name == "risk:task-delay > 4 hours"]
        assert len(fired) == 1
        assert set(deliveries(engine, fired[0].id)) == {"slack-dev", "leads"}
        scheduler.tick()
        assert len([a for a in alerts(engine) if a.event_name.startswith("risk:task-delay")]) == 1
    finally:
        scheduler._runtime = None


def test_a_critical_bug_calls_all_hands_with_one_alert_and_one_page(started, engine, outlets, slack, mailbox, sms):
    """One cause, one alert: the all-hands trigger joins the event's own alert instead of paging again."""
    reply = started("event critical-bug-found")
    assert "risk trigger fired: critical-bug-found (now critical-bug-found) → all-hands-alert" in reply.body.details
    [alert] = alerts(engine)
    assert (alert.event_name, alert.level) == ("critical-bug-found", "critical")
    assert set(deliveries(engine, alert.id)) == {"slack-urgent", "email", "sms", "channel-here"}
    deliver_until_quiet(engine, outlets, started, rounds=2)
    posts = slack.calls_to("chat.postMessage", include_failed=False)
    assert sorted(c.body["channel"] for c in posts) == ["#tr-orchestration", "#urgent"]
    here = next(body_of(c) for c in posts if c.body["channel"] == "#tr-orchestration")
    assert texts(here["blocks"]).startswith("<!here>") and "All hands are called" in here["text"]
    assert (len(mailbox.messages), len(sms.received)) == (1, 1)


def test_the_same_bug_raised_again_soon_counts_on_the_one_alert(started, engine):
    started("event critical-bug-found")
    started.advance(minutes=2)
    started("event critical-bug-found")
    [alert] = alerts(engine)
    assert alert.group_count == 2


def test_alerts_about_different_things_are_never_grouped(started, engine):
    """Two tasks done, or a forced gate after a passed one, within minutes: one alert each."""
    started("task done T1")
    started("task done T2")
    started("validate --checkpoint cp-1 --force --reason 'schema reviewed by hand'", actor=LEAD)
    started("validate --checkpoint cp-2 --force --reason 'contract agreed on a call'", actor=LEAD)
    by_subject = [(a.event_name, a.text, a.group_count) for a in alerts(engine)]
    assert [(name, count) for name, _, count in by_subject] == [
        ("task-complete", 1),
        ("task-complete", 1),
        ("checkpoint-passed", 1),
        ("checkpoint-passed", 1),
    ]
    assert "T1" in by_subject[0][1] and "T2" in by_subject[1][1]
    assert "cp-1" in by_subject[2][1] and "cp-2" in by_subject[3][1]


def test_a_forced_gate_is_a_warning_and_a_clean_pass_is_news(started, engine):
    for criterion in (1, 2, 3):  # the last tick passes the gate
        started(f"validate --checkpoint cp-1 --criterion {criterion}", actor=LEAD)
    started("validate --checkpoint cp-2 --force --reason 'contract agreed on a call'", actor=LEAD)
    clean, forced = alerts(engine)
    assert (clean.level, forced.level) == ("info", "warning")
    assert (clean.status, forced.status) == ("notice", "open")


def test_news_is_not_left_open_for_someone_to_resolve(started, engine):
    started("task done T1")
    [news] = alerts(engine)
    assert news.status == "notice"
    assert started("alerts --open").body.rows == []
    with pytest.raises(CommandError, match="nothing to acknowledge"):
        started(f"ack {news.id}", actor=LEAD)


@pytest.mark.parametrize(
    ("line", "event", "words"),
    [
        ("task done T1", "task-complete", "T1 done: Database schema design"),
        ("task block T2 --reason 'no DBA'", "task-blocked", "T2 blocked: Alembic migration\nReason: no DBA"),
        (
            "validate --checkpoint cp-2 --force --reason 'agreed on a call'",
            "checkpoint-passed",
            "Gate cp-2 (API Contract Lock) passed by force\nPassed with criteria unmet (`validate --force`).",
        ),
        ("pause stream-b --reason 'design review'", "stream-paused", "stream-b-frontend paused\nReason: design review"),
        (
            "metric test-coverage 75%",
            "risk:test-coverage < 80%",
            "Test coverage is 75%, below 80%\n"
            "Deployment is blocked until it clears, or a lead runs `unblock-deployment --reason …`.",
        ),
        (
            "stop --emergency --reason 'prod is down'",
            "plan-stopped",
            "Emergency stop: every stream halted\nReason: prod is down · `start` resumes it.",
        ),
        ("event deployment-failed", "deployment-failed", "Deployment failed"),
    ],
)
def test_each_alert_kind_says_what_happened_to_what(started, engine, line, event, words):
    """A title (what happened, to what) and a body (the value against its target, what the bot did)."""
    started(line, actor=LEAD)
    assert [(a.event_name, a.text) for a in alerts(engine)] == [(event, words)]


def test_a_trigger_with_repeat_fires_again_after_its_interval(started, engine, tmp_path):
    from tests.conftest import EXAMPLE_PLAN

    text = EXAMPLE_PLAN.read_text().replace(
        '  - condition: "api-response > 500ms"\n    action: "performance-review"\n    severity: medium\n',
        '  - condition: "api-response > 500ms"\n    action: "performance-review"\n    severity: medium\n'
        "    repeat: 1h\n",
    )
    edited = tmp_path / "repeat.yml"
    edited.write_text(text)
    started(f"plan load {edited}")
    assert started("metric api-response 700ms").body.details
    started.advance(minutes=30)
    assert started("metric api-response 700ms").body.details == []
    started.advance(minutes=31)
    assert "risk trigger fired" in started("metric api-response 700ms").body.details[0]


# --- agents that report through the API ------------------------------------------------------


def test_a_silent_agent_goes_down_once_and_recovers_on_its_next_heartbeat(started, engine, slack):
    with Session(engine) as session:
        agent = session.exec(select(Agent).where(Agent.key == "agent-c2")).one()
        agent.heartbeat_interval_s = 300
        session.add(agent)
        session.commit()
    scheduler.use(engine, WebClient(token="xoxb-test", base_url=slack.url), clock=lambda: started.now)
    try:
        started.advance(minutes=4)
        scheduler.tick()
        assert [a.event_name for a in alerts(engine)] == []
        started.advance(minutes=2)
        scheduler.tick()
        scheduler.tick()
        assert [a.event_name for a in alerts(engine)] == ["agent-down"]
        assert [a.status for a in started("health --agents agent-c2").body.agents] == ["DOWN"]
        with Session(engine) as session:
            agent = session.exec(select(Agent).where(Agent.key == "agent-c2")).one()
            assert record_heartbeat(session, agent, now=started.now) is True
            session.commit()
        assert [a.status for a in started("health --agents agent-c2").body.agents] == ["IDLE"]
    finally:
        scheduler._runtime = None


def test_an_agent_that_reports_in_working_hours_is_not_down_overnight(started, engine, slack):
    # agent-c2 reports every hour while the plan works (Mon–Fri 09:00–17:00 Paris) and sleeps at night:
    # its silence is counted in working time, so the night costs it nothing, DOWN or health.
    with Session(engine) as session:
        agent = session.exec(select(Agent).where(Agent.key == "agent-c2")).one()
        agent.heartbeat_interval_s = 3600
        session.add(agent)
        session.commit()
    scheduler.use(engine, WebClient(token="xoxb-test", base_url=slack.url), clock=lambda: started.now)

    def beat() -> None:
        with Session(engine) as session:
            record_heartbeat(session, session.exec(select(Agent).where(Agent.key == "agent-c2")).one(), now=started.now)
            session.commit()

    def c2() -> tuple[str, float | None]:
        agent = started("health --agents agent-c2").body.agents[0]
        return agent.status, agent.health

    def downs() -> list[str]:
        return [a.event_name for a in alerts(engine) if a.event_name == "agent-down"]

    try:
        for _ in range(8):  # Monday 09:00–16:00, then its last beat at 17:00
            started.advance(hours=1)
            beat()
        started.advance(hours=6)  # Monday 23:00
        scheduler.tick()
        assert c2()[0] == "IDLE"
        started.advance(hours=10, minutes=30)  # Tuesday 09:30: half an hour of working silence
        scheduler.tick()
        assert c2() == ("IDLE", 100.0)  # eight beats expected over the last working day, eight came
        assert downs() == []
        started.advance(hours=1, minutes=1)  # Tuesday 10:31, still silent: 91 working minutes
        scheduler.tick()
        assert downs() == ["agent-down"]
        assert c2()[0] == "DOWN"
    finally:
        scheduler._runtime = None


# --- what the tick notices on its own --------------------------------------------------------


def test_the_tick_raises_day_complete_late_tasks_and_missed_gates_once(started, engine):
    from models.rules.monitor import watch

    def tick_at(when):
        started.at(when)
        with Session(engine) as session:
            watch(session, session.exec(select(Plan)).one(), when)
            session.commit()

    tick_at(MONDAY_9AM_PARIS + timedelta(hours=8, minutes=1))  # Monday 17:01: day 1 closed, cp-1 due
    tick_at(MONDAY_9AM_PARIS + timedelta(hours=8, minutes=2))  # again: nothing new
    names = [a.event_name for a in alerts(engine)]
    assert names.count("checkpoint-missed") == 1
    with Session(engine) as session:
        events = session.exec(select(Event.name).where(Event.name.like("day-%"))).all()
    assert events == ["day-1-complete"]
    # Wednesday 13:01: the 20h first tasks of five agents (T1, T9, T13, T17, T21) are past due;
    # agent-a2's first task is 21h20m, due 14:20.
    tick_at(MONDAY_9AM_PARIS + timedelta(days=2, hours=4, minutes=1))
    delayed = [a for a in alerts(engine) if a.event_name == "task-delayed"]
    assert [(a.text, a.group_count) for a in delayed] == [
        ("Tasks late: T1, T9, T13, T17, T21\nPast their planned due time and not done.", 1)
    ]
    with Session(engine) as session:
        days = session.exec(select(Event.name).where(Event.name.like("day-%")).order_by(Event.id)).all()
    assert days == ["day-1-complete", "day-2-complete"]


def test_a_post_whose_answer_was_lost_is_not_posted_again(started, engine, slack, mailbox, sms):
    """Slack did the post but the connection dropped before its answer: neither the SDK's retry nor
    ours may post it again; the retry finds it in the channel and records it."""
    outlets = Outlets(client=web_client("xoxb-test", slack.url), smtp_url=mailbox.url, sms_url=sms.url)
    slack.clock = lambda: started.now.timestamp()  # Slack's clock and the bot's agree
    slack.lose_answer_next("chat.postMessage")
    started("event critical-bug")
    deliver_until_quiet(engine, outlets, started, rounds=4)
    urgent = [c for c in slack.calls_to("chat.postMessage") if c.body["channel"] == "#urgent"]
    assert len(urgent) == 1
    [alert] = alerts(engine)
    assert deliveries(engine, alert.id) == {"slack-urgent": "sent", "email": "sent", "sms": "sent"}
    with Session(engine) as session:
        urgent_row = session.exec(select(AlertDelivery).where(AlertDelivery.destination == "slack-urgent")).one()
    assert urgent_row.attempts == 1 and urgent_row.external_ref.startswith("#urgent|")  # found, not sent again
