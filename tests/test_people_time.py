"""People and time (issue 18): each person's zone and hours, time off, and what respects them.

A team over three zones, from the example plan (Mon–Fri 09:00–17:00 Europe/Paris, started Monday
5 January 2026 09:00 Paris = 08:00 UTC; January: Paris UTC+1, New York UTC−5, Kolkata UTC+5:30):

    agent-a1   America/New_York, the plan's hours: 09:00–17:00 New York = 14:00–22:00 UTC
    agent-b1   Slack user U0AGENTB1, the plan's zone and hours
    agent-c1   an AI agent: hours 24/7, heartbeat every hour
    agent-c2   Asia/Kolkata 09:00–17:00 (03:30–11:30 UTC), heartbeat every hour
    leads      U0LEAD0001, then U0LEAD0002
"""

from datetime import UTC, datetime

import pytest
from slack_sdk import WebClient
from sqlmodel import Session, select

from bot.blocks import render_blocks
from bot.delivery import Outlets, deliver_due, escalate
from bot.text import render
from commands.core.context import Actor
from commands.core.errors import CommandError, PermissionDenied, UsageError
from models.db.tables import HeldReminder, Plan
from models.plan.schema import PlanFileError, read_plan_text
from models.rules.balance import balance
from models.rules.heartbeats import detect_silent, record_heartbeat
from models.rules.sync import due_now, record_posted, reminder
from models.state.people import Availability
from tests.clock import paris
from tests.conftest import EXAMPLE_PLAN, LEAD, STRANGER, start_plan_text
from tests.test_commands import refuses

AGENT_B1 = Actor(id="slack:U0AGENTB1", name="b1", source="slack", slack_user="U0AGENTB1")
LEAD_2 = Actor(id="slack:U0LEAD0002", name="lead two", source="slack", slack_user="U0LEAD0002")


def team_plan() -> str:
    text = EXAMPLE_PLAN.read_text()
    for agent, lines in {
        "agent-a1": "    timezone: America/New_York\n",
        "agent-b1": "    slack-user: U0AGENTB1\n",
        "agent-c1": '    hours: "24/7"\n    heartbeat-interval: 1h\n',
        "agent-c2": '    timezone: Asia/Kolkata\n    hours: "09:00-17:00"\n    heartbeat-interval: 1h\n',
    }.items():
        text = text.replace(f"  {agent}:\n", f"  {agent}:\n{lines}", 1)
    return text.replace("leads: [U0LEAD0001]", "leads: [U0LEAD0001, U0LEAD0002]")


@pytest.fixture
def team(run, tmp_path):
    return start_plan_text(run, tmp_path / "team.yml", team_plan(), "TR-ORCH-001")


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, tzinfo=UTC)


def monitor(run) -> dict:
    return {a.key: a for a in run("health").body.agents}


def plan_row(session):
    return session.exec(select(Plan)).one()


# --- each person's zone and hours ---------------------------------------------------------------


def test_each_person_has_the_zone_and_hours_the_plan_gives_else_the_plans(team, engine):
    with Session(engine) as session:
        people = Availability(session, plan_row(session), team.now)
        zones = {who: str(people.calendar(who).zone) for who in ("agent-a1", "agent-b1", "agent-c2", "U0LEAD0001")}
        assert zones == {
            "agent-a1": "America/New_York",
            "agent-b1": "Europe/Paris",
            "agent-c2": "Asia/Kolkata",
            "U0LEAD0001": "Europe/Paris",
        }
        # Monday 15:00 UTC: 16:00 in Paris, 10:00 in New York, 20:30 in Kolkata.
        at = utc(5, 15)
        assert [people.at_work(w, at) for w in ("agent-b1", "agent-a1", "agent-c2", "agent-c1")] == [
            True,
            True,
            False,
            True,
        ]
        # Saturday 03:00 UTC: only the 24/7 agent is at work.
        assert [people.at_work(w, utc(10, 3)) for w in ("agent-b1", "agent-a1", "agent-c2", "agent-c1")] == [
            False,
            False,
            False,
            True,
        ]


def test_zone_and_hours_are_validated_with_what_would_be_right():
    text = team_plan().replace("timezone: Asia/Kolkata", "timezone: Asia/Calcuta").replace('"09:00-17:00"', '"9-5"')
    with pytest.raises(PlanFileError) as caught:
        read_plan_text(text)
    problems = "\n".join(caught.value.problems)
    assert "agents.agent-c2.timezone" in problems
    assert "unknown time zone 'Asia/Calcuta': use an IANA name such as Europe/Paris" in problems
    assert (
        "agents.agent-c2.hours (line 96): '9-5' is not working hours: write \"HH:MM-HH:MM\", e.g. "
        '"09:00-17:00", or "24/7" for an agent that works around the clock'
    ) in problems
    with pytest.raises(PlanFileError) as caught:
        read_plan_text(team_plan() + "time-off:\n  - {who: agent-zz, from: 2026-01-12, until: 2026-01-09}\n")
    assert caught.value.problems == [
        "time-off[0] (line 236): until (2026-01-09) is before from (2026-01-12): both days are included"
    ]


def test_a_scheduled_prompt_at_the_channels_time_asks_only_who_is_at_work(team, engine):
    from models.rules.sync import open_slot

    # Tuesday's standup at 09:00 Paris (08:00 UTC): 03:00 in New York, 13:30 in Kolkata.
    opened = open_slot(engine, "TR-ORCH-001", "standup", now=paris(6, 9), by="test")
    assert [a.key for a in opened.prompt.agents] == ["agent-a2", "agent-b1", "agent-b2", "agent-c1", "agent-c2"]
    # A lead's own `sync` asks everyone not away, a1 too.
    assert "agent-a1" in [a.key for a in team("sync --type standup", actor=LEAD).body.agents]


def test_a_persons_own_holidays_are_dates_or_a_country_calendar_used_instead_of_the_plans(run, tmp_path, engine):
    text = (
        team_plan()
        .replace("    timezone: America/New_York\n", "    timezone: America/New_York\n    holidays: [2026-01-07]\n", 1)
        .replace("    timezone: Asia/Kolkata\n", "    timezone: Asia/Kolkata\n    holidays: IN\n", 1)
    )
    start_plan_text(run, tmp_path / "holidays.yml", text, "TR-ORCH-001")
    with Session(engine) as session:
        people = Availability(session, plan_row(session), utc(5, 9))
        # Wednesday 7 January, 16:00 UTC = 11:00 in New York: a1's own day off; b1 works (17:00 Paris, its day's end).
        assert [people.at_work(w, utc(7, 16)) for w in ("agent-a1", "agent-b1")] == [False, True]
        assert people.at_work("agent-a1", utc(8, 16))  # and the next day a1 is back
        # Monday 26 January, Republic Day in India: 10:00 in Kolkata (04:30 UTC) is no working time for c2 ...
        assert not people.at_work("agent-c2", utc(26, 4, 30))
        assert people.at_work("agent-c2", utc(27, 4, 30))  # ... Tuesday is
    # ... and the standup that Monday (09:00 Paris, 13:30 in Kolkata) does not ask it.
    opened = open_slot_at(engine, paris(26, 9))
    assert "agent-c2" not in [a.key for a in opened.prompt.agents] and "agent-b1" in [
        a.key for a in opened.prompt.agents
    ]


def open_slot_at(engine, now):
    from models.rules.sync import open_slot

    return open_slot(engine, "TR-ORCH-001", "standup", now=now, by="test")


def test_a_lead_has_the_zone_and_hours_people_gives_their_slack_user(run, tmp_path, engine):
    text = team_plan() + 'people:\n  U0LEAD0002: {timezone: America/Sao_Paulo, hours: "08:00-12:00"}\n'
    start_plan_text(run, tmp_path / "leads.yml", text, "TR-ORCH-001")
    with Session(engine) as session:
        people = Availability(session, plan_row(session), utc(5, 9))
        assert str(people.calendar("U0LEAD0002").zone) == "America/Sao_Paulo"
        assert str(people.calendar("U0LEAD0001").zone) == "Europe/Paris"
        # Monday 12:00 UTC = 09:00 in São Paulo (UTC-3): inside the lead's hours; 16:00 UTC = 13:00: past them.
        assert people.at_work("U0LEAD0002", utc(5, 12)) and not people.at_work("U0LEAD0002", utc(5, 16))
        assert people.at_work("U0LEAD0001", utc(5, 15))


def test_a_heartbeat_agent_in_another_zone_is_expected_only_in_its_own_hours(team, engine):
    """Health counts the heartbeats expected in the agent's own working time, not the plan's."""
    with Session(engine) as session:
        c2 = {a.key: a for a in plan_agents(session, plan_row(session))}["agent-c2"]
        c2_id = c2.id
        for hour in (9, 10, 11):  # 14:30, 15:30 and 16:30 in Kolkata, each hour until its 17:00
            record_heartbeat(session, c2, now=utc(5, hour))
        session.commit()
    # Monday 12:00 UTC. Since the plan started (08:00 UTC = 13:30 Kolkata) c2 has worked 13:30-17:00:
    # 3.5 h, so 3 hourly beats are expected (on the plan's clock it would be 4 h: 4 beats, 75%).
    team.at(utc(5, 12))
    assert monitor(team)["agent-c2"].health == 100.0
    # One beat of the three: 1 / 3 = 33.3%.
    with Session(engine) as session:
        from models.db.tables import Heartbeat

        for beat in session.exec(select(Heartbeat).where(Heartbeat.agent_id == c2_id, Heartbeat.at > utc(5, 9, 30))):
            session.delete(beat)
        session.commit()
    assert monitor(team)["agent-c2"].health == 33.3


def test_a_stream_gives_its_agents_its_zone_unless_an_agent_says_otherwise():
    text = team_plan().replace("  - id: stream-c-testing\n", "  - id: stream-c-testing\n    timezone: Europe/Dublin\n")
    people = read_plan_text(text).settings().people
    assert people["agent-c1"].timezone == "Europe/Dublin"  # the stream's
    assert people["agent-c2"].timezone == "Asia/Kolkata"  # its own


# --- heartbeat silence in the agent's own working time -------------------------------------------


def test_an_agent_with_09_17_hours_is_never_down_overnight_in_its_own_zone(team, engine):
    with Session(engine) as session:
        plan = plan_row(session)
        agents = {a.key: a for a in plan_agents(session, plan)}
        # c2 (Kolkata) heartbeats at 17:00 its time (11:30 UTC) and then sleeps; c1 (24/7) too.
        for key in ("agent-c1", "agent-c2"):
            record_heartbeat(session, agents[key], now=utc(5, 11, 30))
        session.commit()
    # Paris 16:30 (15:30 UTC): four hours of the plan's working time since, but none of c2's.
    team.at(utc(5, 15, 30))
    shown = monitor(team)
    assert shown["agent-c2"].status != "DOWN"
    assert shown["agent-c1"].status == "DOWN"  # 24/7: four hours silent is four hours
    # 08:59 in Kolkata the next morning (03:29 UTC): still nothing of its working time has passed.
    team.at(utc(6, 3, 29))
    with Session(engine) as session:
        assert detect_silent(session, plan_row(session), now=team.now) == ["agent-c1"]
        session.commit()
    assert monitor(team)["agent-c2"].status != "DOWN"
    # 10:31 in Kolkata (05:01 UTC): 1h31m of its working time without a heartbeat -> DOWN.
    team.at(utc(6, 5, 1))
    with Session(engine) as session:
        assert detect_silent(session, plan_row(session), now=team.now) == ["agent-c2"]
        session.commit()
    assert monitor(team)["agent-c2"].status == "DOWN"


def plan_agents(session, plan):
    from models.db.tables import Agent

    return session.exec(select(Agent).where(Agent.plan_id == plan.id)).all()


# --- time off ------------------------------------------------------------------------------------


def test_an_agent_away_for_a_week(team, engine):
    team.at(paris(9, 17))  # Friday evening
    reply = team("away --until 2026-01-16 --reason ski", actor=AGENT_B1)
    assert render(reply) == (
        "agent-b1 is away through Fri 16 Jan 2026 (ski): no prompts or reminders, not counted in health, "
        "new work goes to the backup."
    )
    team.at(paris(12, 9))  # Monday 12: away
    shown = monitor(team)
    assert (shown["agent-b1"].away, shown["agent-b1"].away_until.isoformat(), shown["agent-b1"].away_reason) == (
        True,
        "2026-01-16",
        "ski",
    )
    assert "Away: agent-b1: away through Fri 16 Jan (ski)" in render(team("health"))
    # The dashboard shows who is away and until when, as text and in Slack.
    board = team("status")
    assert [(a.who, a.until.isoformat(), a.reason) for a in board.body.away] == [("agent-b1", "2026-01-16", "ski")]
    assert "│ Away: agent-b1 through Fri 16 Jan (ski)" in render(board)
    context = [b for b in render_blocks(board.body) if b.type == "context" and "Away" in b.elements[0].text]
    assert context[0].elements[0].text == ":palm_tree: Away: *agent-b1* through Fri 16 Jan (ski)"
    # No prompt: a sync asks agent-b2, not agent-b1.
    prompt = team("sync --type standup").body
    assert "agent-b2" in [a.key for a in prompt.agents] and "agent-b1" not in [a.key for a in prompt.agents]
    record_posted(engine, prompt.slot_id, channel="C0TEAM", ts="1.000001", now=team.now)
    # Health unaffected: nothing was expected of agent-b1 (b2, asked and silent, is at 0%).
    team.advance(minutes=30)
    shown = monitor(team)
    assert shown["agent-b1"].health is None and shown["agent-b2"].health == 0
    # Delegation: a new UI Design task (primary agent-b1) goes to its backup agent-b2.
    reply = team('task add "Dark mode mockups" --type "UI Design" --estimate 4h', actor=LEAD)
    assert "agent-b2" in render(reply) and "agent-b1 is away through Fri 16 Jan" in render(reply)
    # Saturday 17: the week is over, agent-b1 is back without saying so.
    team.at(paris(17, 10))
    assert monitor(team)["agent-b1"].away is False


def test_back_ends_time_off_and_refusals_change_nothing(team, engine):
    assert render(team("away --agent agent-b1", actor=LEAD)).startswith("agent-b1 is away until `back`")
    # A stranger may not mark someone away; a past date and a bad date say what would be right.
    refuses(team, engine, "away --agent agent-b2", actor=STRANGER, error=PermissionDenied)
    message = refuses(team, engine, "away --agent agent-b2 --until 2026-01-02", actor=LEAD)
    assert message == "--until 2026-01-02 is in the past (today is 2026-01-05 for agent-b2): give today or a later day"
    with pytest.raises(UsageError) as caught:
        team("away --until 'next friday'", actor=AGENT_B1)
    assert "'next friday' is not a date: write YYYY-MM-DD, e.g. 2026-01-16" in caught.value.message
    assert render(team("back", actor=AGENT_B1)) == "agent-b1 is back: prompts, reminders and new work resume."
    assert monitor(team)["agent-b1"].away is False
    with pytest.raises(CommandError, match="agent-b1 is not away: `away` marks someone away"):
        team("back", actor=AGENT_B1)


def test_the_plans_time_off_makes_a_person_away_on_those_days(run, tmp_path):
    time_off = "time-off:\n  - {who: agent-c1, from: 2026-01-06, until: 2026-01-07, reason: course}\n"
    start_plan_text(run, tmp_path / "team.yml", team_plan() + time_off, "TR-ORCH-001")
    assert monitor(run)["agent-c1"].away is False
    run.at(paris(6, 10))
    assert (monitor(run)["agent-c1"].away, monitor(run)["agent-c1"].away_until.isoformat()) == (True, "2026-01-07")
    with pytest.raises(CommandError, match="change the plan file to end it"):
        run("back --agent agent-c1")


def test_an_away_agents_queued_work_moves_to_the_backup_one_task_a_tick(team, engine):
    team("away --until 2026-01-09 --reason flu", actor=AGENT_B1)  # Monday to Friday
    team.advance(minutes=1)
    moved = []
    for _ in range(5):
        with Session(engine) as session:
            moved += balance(session, plan_row(session), team.now)
            session.commit()
        team.advance(minutes=1)
    # b1's tasks (UI Design, backup agent-b2) are all planned to start before it is back (Mon 12, W40): once
    # T9 and T10 are gone, T11 and T12 move up in its queue. One a tick, then nothing is left to move.
    why = "agent-b1 is away through Fri 09 Jan (flu)"
    assert moved == [
        f"M1 · cover-time-off: T9 'UI/UX mockups' moved from agent-b1 to agent-b2: {why} (undo: `moves undo M1`)",
        f"M2 · cover-time-off: T10 'Component design' moved from agent-b1 to agent-b2: {why} (undo: `moves undo M2`)",
        f"M3 · cover-time-off: T11 'Style guide' moved from agent-b1 to agent-b2: {why} (undo: `moves undo M3`)",
        f"M4 · cover-time-off: T12 'Accessibility' moved from agent-b1 to agent-b2: {why} (undo: `moves undo M4`)",
    ]


def test_an_agent_away_today_keeps_the_work_planned_after_its_return(team, engine):
    team("task start T9", actor=AGENT_B1)  # W0–20: in progress, it stays with b1
    team("away --until 2026-01-05 --reason dentist", actor=AGENT_B1)
    with Session(engine) as session:
        assert balance(session, plan_row(session), team.now) == []  # T10 starts at W20, after Monday
        session.commit()


# --- escalation skips a lead who is away ---------------------------------------------------------


def test_a_lead_away_is_skipped_for_the_next_lead(team, engine, slack):
    outlets = Outlets(client=WebClient(token="xoxb-test", base_url=slack.url))
    team("away --until 2026-01-09 --reason conference", actor=LEAD)
    team("event critical-bug")
    team.advance(minutes=15)
    assert escalate(engine, outlets, team.now) == 1
    assert [c.body["users"] for c in slack.calls_to("conversations.open")] == ["U0LEAD0002"]
    team("back", actor=LEAD)
    team.advance(minutes=15)
    assert escalate(engine, outlets, team.now) == 1
    assert [c.body["users"] for c in slack.calls_to("conversations.open")][1:] == ["U0LEAD0001", "U0LEAD0002"]


def test_with_every_lead_away_escalation_still_reaches_them_all(team, engine, slack):
    outlets = Outlets(client=WebClient(token="xoxb-test", base_url=slack.url))
    team("away", actor=LEAD)
    team("away", actor=LEAD_2)
    team("event critical-bug")
    team.advance(minutes=15)
    assert escalate(engine, outlets, team.now) == 1
    assert [c.body["users"] for c in slack.calls_to("conversations.open")] == ["U0LEAD0001", "U0LEAD0002"]


def test_no_reminder_goes_to_someone_who_went_away_after_the_prompt(team, engine):
    prompt = team("sync --type standup").body  # Monday 09:00: agent-b1 is asked
    assert "agent-b1" in [a.key for a in prompt.agents]
    record_posted(engine, prompt.slot_id, channel="C0TEAM", ts="1.000001", now=team.now)
    team.advance(minutes=5)
    team("away --reason 'called away'", actor=AGENT_B1)
    team.advance(minutes=3)  # half-way through the 15 minutes: the reminders are due
    reminders, _, _ = due_now(engine, now=team.now)
    assert reminders == [prompt.slot_id]
    assert reminder(engine, prompt.slot_id).silent == []  # agent-b1 is the only one with a Slack user


def test_without_time_off_the_same_reminder_goes_out(team, engine):
    prompt = team("sync --type standup").body
    record_posted(engine, prompt.slot_id, channel="C0TEAM", ts="1.000001", now=team.now)
    team.advance(minutes=8)
    due_now(engine, now=team.now)
    assert reminder(engine, prompt.slot_id).silent == [("agent-b1", "U0AGENTB1")]


# --- zones from Slack ----------------------------------------------------------------------------


def test_a_zone_the_plan_does_not_give_comes_from_slack_cached_a_day(team, engine, slack):
    from bot.zones import refresh_zones

    client = WebClient(token="xoxb-test", base_url=slack.url)
    slack.users["U0AGENTB1"] = {"tz": "America/Los_Angeles", "tz_label": "Pacific Standard Time", "tz_offset": -28800}
    slack.users["U0LEAD0002"] = {"tz": "Not/AZone"}  # a zone this machine does not know: the plan's
    # Asked: the agent and the leads with a Slack user and no zone in the plan (agent-a1 and c2 have one).
    assert refresh_zones(engine, client, team.now) == 3
    assert sorted(c.body["user"] for c in slack.calls_to("users.info")) == ["U0AGENTB1", "U0LEAD0001", "U0LEAD0002"]
    with Session(engine) as session:
        people = Availability(session, plan_row(session), team.now)
        assert str(people.calendar("agent-b1").zone) == "America/Los_Angeles"
        assert str(people.calendar("U0LEAD0001").zone) == "Europe/Paris"  # the stand-in's default tz
        assert str(people.calendar("U0LEAD0002").zone) == "Europe/Paris"  # the plan's
    # Within the day nothing is asked again; a day later everything is.
    team.advance(hours=23)
    assert refresh_zones(engine, client, team.now) == 0
    team.advance(hours=1)
    assert refresh_zones(engine, client, team.now) == 3


def test_an_app_installed_without_users_read_says_so_once_and_gives_the_plans_zone(team, engine, slack, caplog):
    from bot.zones import refresh_zones

    slack.scopes = slack.scopes - {"users:read"}  # installed from an older manifest
    slack.users["U0AGENTB1"] = {"tz": "America/Los_Angeles"}
    assert refresh_zones(engine, WebClient(token="xoxb-test", base_url=slack.url), team.now) == 0
    assert len(slack.calls_to("users.info")) == 1  # the others would be refused the same way
    assert [r.getMessage() for r in caplog.records if "users:read" in r.getMessage()] == [
        "Slack refused users.info: the app lacks the users:read scope; reinstall it from manifest.yml. "
        "Until then everyone the plan gives no zone gets the plan's."
    ]
    with Session(engine) as session:
        assert str(Availability(session, plan_row(session), team.now).calendar("agent-b1").zone) == "Europe/Paris"


# --- quiet hours ---------------------------------------------------------------------------------


def test_a_reminder_due_at_22_00_local_is_delivered_at_09_00_the_next_working_day(team, engine, slack):
    from bot.sync_post import remind_held
    from models.rules.quiet_hours import held_reminders_due

    client = WebClient(token="xoxb-test", base_url=slack.url)
    team.at(paris(9, 21, 52))  # Friday: a lead asks for an ad-hoc standup (it asks everyone not away)
    prompt = team("sync --type standup", actor=LEAD).body
    record_posted(engine, prompt.slot_id, channel="C0TEAM", ts="1.000001", now=team.now)
    team.at(paris(9, 22))  # half-way through: the reminders are due, at 22:00 in Paris
    assert due_now(engine, now=team.now)[0] == [prompt.slot_id]
    assert reminder(engine, prompt.slot_id).silent == []  # nothing goes out at night
    # Held over the weekend: Monday 08:59 is still before agent-b1's day; 09:00 is its start.
    team.at(paris(12, 8, 59))
    assert held_reminders_due(engine, now=team.now) == []
    team.at(paris(12, 9))
    [held] = held_reminders_due(engine, now=team.now)
    assert (held.key, held.user, held.sync_type) == ("agent-b1", "U0AGENTB1", "standup")
    remind_held(client, held)
    [sent] = slack.calls_to("chat.postMessage")
    assert sent.body["channel"] == "U0AGENTB1"
    assert sent.body["text"] == (
        "Reminder: the standup sync of TR-ORCH-001 is waiting for your answer (agent-b1): press Answer on "
        "<https://slack.com/archives/C0TEAM/p1000001|the prompt>, or reply in its thread."
    )
    assert held_reminders_due(engine, now=team.now) == []  # once


def test_a_held_reminder_is_dropped_once_answered(team, engine):
    from models.rules.quiet_hours import held_reminders_due

    team.at(paris(9, 21, 52))
    prompt = team("sync --type standup", actor=LEAD).body
    record_posted(engine, prompt.slot_id, channel="C0TEAM", ts="1.000001", now=team.now)
    team.at(paris(9, 22))
    due_now(engine, now=team.now)
    with Session(engine) as session:
        assert [h.deliver_at for h in session.exec(select(HeldReminder))] == [paris(12, 9)]
    team.at(paris(10, 11))  # Saturday: agent-b1 answers anyway
    team("answer 'mockups done, more tomorrow'", actor=AGENT_B1)
    team.at(paris(12, 9))
    assert held_reminders_due(engine, now=team.now) == []
    with Session(engine) as session:  # dropped, not left to come back
        assert [h.sent_at for h in session.exec(select(HeldReminder))] == [paris(12, 9)]


# --- `at: local`: each person asked at their own 09:00 -------------------------------------------


def local_standup_plan() -> str:
    return team_plan().replace(
        """  - time: "09:00"
    type: "standup"
    duration: "15min"
    required: ["all-agents"]""",
        """  - time: "09:00"
    type: "standup"
    duration: "15min"
    required: ["all-agents"]
    at: local""",
    )


def test_an_at_local_standup_asks_each_zone_at_its_own_nine_across_new_yorks_dst_change(run, tmp_path, engine):
    from bot.scheduler import sync_trigger
    from models.rules.sync import open_slot, scheduled_syncs

    start_plan_text(run, tmp_path / "local.yml", local_standup_plan(), "TR-ORCH-001")
    standups = {s.entry.type: s for s in scheduled_syncs(engine) if s.entry.base == "standup"}
    assert sorted(standups) == [
        "standup (America/New_York)",
        "standup (Asia/Kolkata)",
        "standup (Europe/Paris)",
    ]
    # New York moves to EDT on Sunday 8 March 2026; Paris only on 29 March: 09:00 in New York is
    # 14:00 UTC on Friday 6 March and 13:00 UTC on Monday 9 March. Paris stays 08:00 UTC, Kolkata 03:30.
    fires = {
        zone: sync_trigger(standups[f"standup ({zone})"]).get_next_fire_time(None, utc(6, 15).replace(month=3))
        for zone in ("America/New_York", "Europe/Paris", "Asia/Kolkata")
    }
    assert {zone: at.astimezone(UTC).strftime("%a %d %H:%M") for zone, at in fires.items()} == {
        "America/New_York": "Mon 09 13:00",
        "Europe/Paris": "Mon 09 08:00",
        "Asia/Kolkata": "Mon 09 03:30",
    }
    before = sync_trigger(standups["standup (America/New_York)"]).get_next_fire_time(None, utc(6, 0).replace(month=3))
    assert before.astimezone(UTC).strftime("%a %d %H:%M") == "Fri 06 14:00"
    # Each prompt asks the people of its zone: a1 in New York, c2 in Kolkata, the rest (c1, 24/7, too) in Paris.
    asked = {}
    for zone, at in fires.items():
        opened = open_slot(engine, "TR-ORCH-001", f"standup ({zone})", now=at, by="test")
        asked[zone] = [a.key for a in opened.prompt.agents]
    assert asked == {
        "America/New_York": ["agent-a1"],
        "Europe/Paris": ["agent-a2", "agent-b1", "agent-b2", "agent-c1"],
        "Asia/Kolkata": ["agent-c2"],
    }


# --- quiet hours for the leads' direct messages ----------------------------------------------------


def leads_routed(text: str) -> str:
    """The example plan with a failed test (a warning) and a failed deployment (critical) also
    escalated to the leads by a direct message."""
    return text.replace(
        "risk-triggers:\n",
        "risk-triggers:\n"
        '  - {condition: "test-failed", action: "escalate-to-lead", severity: medium}\n'
        '  - {condition: "deployment-failed", action: "escalate-to-lead", severity: critical}\n',
        1,
    )


@pytest.fixture
def night_team(run, tmp_path):
    return start_plan_text(run, tmp_path / "team.yml", leads_routed(team_plan()), "TR-ORCH-001")


def dms_to_leads(slack) -> list[tuple[str, str]]:
    """(lead, first line of the text) of every message sent to a lead, through any path."""
    sent = []
    for call in slack.calls_to("chat.postMessage"):
        channel = call.body["channel"]
        if channel.startswith("U0LEAD"):
            sent.append((channel, call.body["text"].splitlines()[0]))
    opened = [c.body["users"] for c in slack.calls_to("conversations.open")]
    return sent + [(user, "opened") for user in opened]


def test_a_warning_to_the_leads_at_22_paris_reaches_them_at_09_next_working_day(night_team, engine, slack):
    outlets = Outlets(client=WebClient(token="xoxb-test", base_url=slack.url))
    night_team.at(paris(5, 22))  # Monday 22:00 Paris: both leads (the plan's zone and hours) are off
    night_team("event test-failed")
    deliver_due(engine, outlets, lambda: night_team.now)
    assert [c.body["channel"] for c in slack.calls_to("chat.postMessage")] == ["#dev"]  # the channel at once
    assert dms_to_leads(slack) == []
    not_sent = {row[2]: row[7] for row in night_team("alerts").body.rows}
    assert not_sent["test-failed"] == "U0LEAD0001: pending; U0LEAD0002: pending"  # held, each to a lead
    night_team.at(paris(6, 8, 59))
    deliver_due(engine, outlets, lambda: night_team.now)
    assert dms_to_leads(slack) == []
    night_team.at(paris(6, 9, 0))  # Tuesday 09:00 Paris: the start of their day
    deliver_due(engine, outlets, lambda: night_team.now)
    assert sorted(lead for lead, _ in dms_to_leads(slack)) == ["U0LEAD0001", "U0LEAD0002"]
    deliver_due(engine, outlets, lambda: night_team.now)
    assert len(dms_to_leads(slack)) == 2  # once each


def test_a_warning_on_friday_night_waits_for_monday(night_team, engine, slack):
    outlets = Outlets(client=WebClient(token="xoxb-test", base_url=slack.url))
    night_team.at(paris(9, 18, 30))
    night_team("event test-failed")
    for day, hour in ((10, 9), (11, 12), (12, 8)):  # Saturday, Sunday, Monday before 09:00
        night_team.at(paris(day, hour))
        deliver_due(engine, outlets, lambda: night_team.now)
    assert dms_to_leads(slack) == []
    night_team.at(paris(12, 9, 0))
    deliver_due(engine, outlets, lambda: night_team.now)
    assert sorted(lead for lead, _ in dms_to_leads(slack)) == ["U0LEAD0001", "U0LEAD0002"]


def test_a_critical_alert_reaches_the_leads_at_once_even_at_night(night_team, engine, slack):
    outlets = Outlets(client=WebClient(token="xoxb-test", base_url=slack.url))
    night_team.at(paris(5, 22))
    night_team("event deployment-failed")
    deliver_due(engine, outlets, lambda: night_team.now)
    assert sorted(lead for lead, _ in dms_to_leads(slack)) == ["U0LEAD0001", "U0LEAD0002"]


def test_a_warning_in_working_hours_reaches_the_leads_at_once(night_team, engine, slack):
    outlets = Outlets(client=WebClient(token="xoxb-test", base_url=slack.url))
    night_team.at(paris(5, 11))
    night_team("event test-failed")
    deliver_due(engine, outlets, lambda: night_team.now)
    assert sorted(lead for lead, _ in dms_to_leads(slack)) == ["U0LEAD0001", "U0LEAD0002"]
