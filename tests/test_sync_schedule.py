"""The sync schedule on a fake clock: slots, working days, holidays, DST, downtime, reminders, summary."""

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from slack_sdk import WebClient
from sqlmodel import Session, select

from bot import scheduler
from models.db.tables import Agent, Plan, SyncAnswer, SyncSlot
from models.rules.sync import ScheduledSync, SyncEntry
from tests.clock import PARIS
from tests.conftest import EXAMPLE_PLAN


def dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def paris(*args) -> datetime:
    return datetime(*args, tzinfo=PARIS).astimezone(UTC)


@pytest.fixture
def jobs(started, engine, slack):
    """The scheduler's job functions on the test's store, Slack stand-in and clock."""
    with Session(engine) as session:  # link three agents to Slack users, as a team would
        for key, user in (("agent-a1", "UA1"), ("agent-b1", "UB1"), ("agent-c1", "UC1")):
            agent = session.exec(select(Agent).where(Agent.key == key)).one()
            agent.slack_user = user
            session.add(agent)
        session.commit()
    slack.clock = lambda: started.now.timestamp()  # Slack's clock and the bot's agree
    scheduler.use(engine, WebClient(token="xoxb-test", base_url=slack.url), clock=lambda: started.now)
    yield started
    scheduler._runtime = None


def prompts(slack) -> list[dict]:
    return [c.body for c in slack.calls_to("chat.postMessage") if str(c.body.get("text", "")).startswith("Sync:")]


def plan_row(engine) -> Plan:
    with Session(engine) as session:
        return session.exec(select(Plan)).one()


# --- when slots fire ------------------------------------------------------------------


def fire_times(plan: Plan, entry: SyncEntry, start: datetime, end: datetime) -> list[datetime]:
    trigger = scheduler.sync_trigger(ScheduledSync.of(plan, entry))
    times, previous, now = [], None, start
    while True:
        fire = trigger.get_next_fire_time(previous, now)
        if fire is None or fire > end:
            return times
        times.append(fire)
        previous, now = fire, fire + timedelta(seconds=1)


@pytest.mark.parametrize(
    "zone, first, last",
    [
        ("Europe/Paris", datetime(2026, 3, 23), datetime(2026, 4, 3)),  # EU spring forward: Sun 29 March
        ("Europe/Paris", datetime(2026, 10, 19), datetime(2026, 10, 30)),  # EU fall back: Sun 25 October
        ("America/New_York", datetime(2026, 3, 2), datetime(2026, 3, 13)),  # US spring forward: Sun 8 March
        ("America/New_York", datetime(2026, 10, 26), datetime(2026, 11, 6)),  # US fall back: Sun 1 November
    ],
)
def test_slots_follow_local_wall_time_across_dst(zone, first, last):
    plan = Plan(key="P", title="P", spec={"working-days": ["mon", "tue", "wed", "thu", "fri"], "timezone": zone})
    entry = SyncEntry("standup", "09:00", 900, ("all-agents",))
    local = ZoneInfo(zone)
    times = fire_times(plan, entry, first.replace(tzinfo=local), last.replace(hour=23, tzinfo=local))
    days = [t.astimezone(local) for t in times]
    assert all((d.hour, d.minute) == (9, 0) for d in days)  # 09:00 local, before and after the change
    assert len({d.date() for d in days}) == len(days) == 10  # one run per working day, two weeks
    assert all(d.weekday() < 5 for d in days)


def test_the_trigger_skips_days_off_the_plan_names(engine):
    plan = Plan(key="P", title="P", spec={"working-days": ["mon", "wed"], "timezone": "UTC"})
    times = fire_times(
        plan,
        SyncEntry("standup", "10:30", 900, ()),
        datetime(2026, 1, 5, tzinfo=UTC),
        datetime(2026, 1, 11, tzinfo=UTC),
    )
    assert [t.strftime("%a %H:%M") for t in times] == ["Mon 10:30", "Wed 10:30"]


# --- posting once ----------------------------------------------------------------------


def test_a_slot_is_posted_once_with_the_agents_and_an_answer_button(jobs, slack, engine):
    jobs.at(paris(2026, 1, 5, 9, 0))
    scheduler.run_slot("TR-ORCH-001", "standup")
    scheduler.run_slot("TR-ORCH-001", "standup")  # a second process, or a retry: nothing more
    posted = prompts(slack)
    assert len(posted) == 1 and posted[0]["channel"] == "#tr-orchestration"
    blocks = posted[0]["blocks"]
    text = dumps(blocks)
    assert "Sync · standup · TR-ORCH-001" in text and "<@UA1>: Database schema design" in text
    assert "due today: *cp-1* Database Schema Validation" in text
    assert [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]] == ["sync_answer"]
    with Session(engine) as session:
        slot = session.exec(select(SyncSlot)).one()
        assert (slot.entry, slot.local_date, slot.status) == ("standup", "2026-01-05", "posted")
        assert len(session.exec(select(SyncAnswer)).all()) == 6
    assert slack.errors == []


def test_active_agents_only_and_never_a_paused_streams(jobs, slack):
    jobs("task start T1")
    jobs("task start T9")
    jobs("pause stream-b")
    jobs.at(paris(2026, 1, 5, 13, 0))
    scheduler.run_slot("TR-ORCH-001", "progress-check")
    text = dumps(prompts(slack)[0]["blocks"])
    assert "<@UA1>: Database schema design" in text  # active
    assert "UB1" not in text  # active, but its stream is paused
    assert "UC1" not in text and "agent-a2" not in text  # not active


def test_a_stopped_plan_posts_nothing(jobs, slack):
    jobs("stop --reason holiday")
    jobs.at(paris(2026, 1, 5, 9, 0))
    scheduler.run_slot("TR-ORCH-001", "standup")
    assert prompts(slack) == []


def test_weekends_and_holidays_post_nothing(jobs, slack, engine):
    jobs.at(paris(2026, 1, 10, 9, 0))  # a Saturday
    scheduler.run_slot("TR-ORCH-001", "standup")
    with Session(engine) as session:
        plan = session.exec(select(Plan)).one()
        plan.spec = {**plan.spec, "holidays": ["2026-01-12"]}
        session.add(plan)
        session.commit()
    jobs.at(paris(2026, 1, 12, 9, 0))  # the Monday, now a holiday
    scheduler.run_slot("TR-ORCH-001", "standup")
    assert prompts(slack) == []


# --- downtime -------------------------------------------------------------------------------


def test_after_downtime_a_slot_missed_by_less_than_its_duration_is_posted_once(jobs, slack):
    jobs.at(paris(2026, 1, 5, 9, 10))  # the 15-minute standup began ten minutes ago
    scheduler.catch_up_all()
    scheduler.catch_up_all()  # a restart, or a second process starting
    assert [p["text"] for p in prompts(slack)] == ["Sync: standup (TR-ORCH-001)"]


def test_a_slot_missed_by_more_is_not_posted_and_shows_in_the_summary(jobs, slack, engine):
    jobs.at(paris(2026, 1, 5, 9, 20))  # five minutes past the standup's end
    scheduler.catch_up_all()
    assert prompts(slack) == []
    with Session(engine) as session:
        assert session.exec(select(SyncSlot.status)).all() == ["missed"]
    jobs.at(paris(2026, 1, 5, 17, 0))
    scheduler.run_slot("TR-ORCH-001", "end-of-day")
    summary = [c.body for c in slack.calls_to("chat.postMessage") if c.body["text"].startswith("End of day")]
    assert "*Missed syncs* (the bot was down): standup at 09:00" in dumps(summary[0]["blocks"])


# --- reminders ---------------------------------------------------------------------------------


def test_one_reminder_half_way_to_those_who_have_not_answered(jobs, slack, engine):
    jobs.at(paris(2026, 1, 5, 9, 0))
    scheduler.run_slot("TR-ORCH-001", "standup")
    with Session(engine) as session:  # agent-a1 answers
        row = session.exec(select(SyncAnswer).join(Agent).where(Agent.key == "agent-a1")).one()
        row.answered_at = jobs.now
        session.add(row)
        session.commit()
    jobs.advance(minutes=7)
    scheduler.tick()
    assert slack.calls_to("conversations.open") == []  # not half-way yet
    jobs.advance(seconds=30)
    scheduler.tick()
    scheduler.tick()
    slack.wait_for("chat.postMessage", count=3)  # the prompt and two reminders, sent on their own thread
    reminders = [c for c in slack.calls_to("chat.postMessage") if c.body["text"].startswith("Reminder")]
    # Linked and silent; agent-a1 answered; the others have no Slack user. Each goes to the person's id,
    # which Slack delivers in the app's direct messages with them: no conversations.open first (Tier 3,
    # 50 a minute, which 600 reminders could not get through within a sync).
    assert sorted(c.body["channel"] for c in reminders) == ["UB1", "UC1"]
    assert [m["text"].split(":")[0] for m in slack.messages("DUB1") + slack.messages("DUC1")] == ["Reminder"] * 2
    assert slack.calls_to("conversations.open") == []
    assert "standup sync of TR-ORCH-001" in reminders[0].body["text"]


def test_who_answers_while_the_reminders_go_out_is_not_reminded(jobs, slack, engine):
    import time
    from concurrent.futures import ThreadPoolExecutor

    from bot.sync_post import remind

    jobs.at(paris(2026, 1, 5, 9, 0))
    scheduler.run_slot("TR-ORCH-001", "standup")
    with Session(engine) as session:
        slot_id = session.exec(select(SyncSlot.id)).one()
    slack.delays["chat.postMessage"] = 1.0  # each reminder takes a second to reach Slack
    client = WebClient(token="xoxb-test", base_url=slack.url)
    with ThreadPoolExecutor(max_workers=1) as pool:
        sending = pool.submit(remind, client, engine, slot_id)
        time.sleep(0.3)  # agent-a1's reminder is on its way; agent-b1 answers now, before their turn
        with Session(engine) as session:
            row = session.exec(select(SyncAnswer).join(Agent).where(Agent.key == "agent-b1")).one()
            row.answered_at = jobs.now
            session.add(row)
            session.commit()
        assert sending.result(timeout=30) == 2
    reminded = [c.body["channel"] for c in slack.calls_to("chat.postMessage") if c.body["text"].startswith("Reminder")]
    assert reminded == ["UA1", "UC1"]


# --- the end of the day ---------------------------------------------------------------------------


def test_the_end_of_day_summary_with_its_chart(jobs, slack):
    jobs.at(paris(2026, 1, 5, 10, 0))
    jobs("task done T1")
    jobs("task block T5 --reason 'waiting for the schema'")
    jobs.at(paris(2026, 1, 5, 17, 0))
    scheduler.run_slot("TR-ORCH-001", "end-of-day")
    texts = [c.body["text"] for c in slack.calls_to("chat.postMessage")]
    assert texts == ["Sync: end-of-day (TR-ORCH-001)", "End of day 2026-01-05 (TR-ORCH-001)"]
    summary = dumps(slack.calls_to("chat.postMessage")[1].body["blocks"])
    assert "*stream-a-backend* 0% → *12%* (+12 pts" in summary  # T1: 20h of 160h
    assert "*Done today* (1): T1 Database schema design" in summary
    assert "T5 Matricule mapping service (waiting for the schema)" in summary
    uploads = [c for c in slack.calls if c.method.startswith("upload:")]
    assert len(uploads) == 1 and uploads[0].raw.startswith(b"\x89PNG")  # the chart, as an image
    completed = slack.calls_to("files.completeUploadExternal")[0].body
    assert "TR-ORCH-001: planned vs actual, 2026-01-05" in dumps(completed)


def test_plans_loaded_changed_or_stopped_are_picked_up_without_a_restart(jobs, engine, slack, tmp_path):
    from apscheduler.schedulers.background import BackgroundScheduler

    background = BackgroundScheduler(timezone=UTC)
    background.start(paused=True)  # a real job store, but nothing runs
    scheduler._scheduler = background
    try:
        scheduler.reconcile()
        assert sorted(j.id for j in background.get_jobs()) == [
            "sync:TR-ORCH-001:end-of-day",
            "sync:TR-ORCH-001:progress-check",
            "sync:TR-ORCH-001:standup",
        ]
        standup = background.get_job("sync:TR-ORCH-001:standup")
        assert (standup.misfire_grace_time, standup.coalesce, standup.max_instances) == (900, True, 1)
        changed = tmp_path / "changed.yml"
        changed.write_text(EXAMPLE_PLAN.read_text().replace('  - time: "09:00"', '  - time: "09:30"'))
        jobs(f"plan load {changed}")
        scheduler.reconcile()
        assert str(background.get_job("sync:TR-ORCH-001:standup").trigger) == "wall clock 09:30 Europe/Paris"
        jobs("stop --reason 'no more syncs'")
        scheduler.reconcile()
        assert background.get_jobs() == []
    finally:
        background.shutdown(wait=False)
        scheduler._scheduler = None


def test_a_claim_left_unposted_by_a_dead_process_is_taken_over(jobs, slack, engine):
    from models.rules.sync import claim_slot, scheduled_entries

    jobs.at(paris(2026, 1, 5, 9, 0))
    with Session(engine) as session:  # a process claims the standup, then dies before posting
        plan = session.exec(select(Plan)).one()
        entry = next(e for e in scheduled_entries(plan) if e.type == "standup")
        assert claim_slot(session, plan, entry, jobs.now.astimezone(PARIS).date(), now=jobs.now, by="dead:1")
        session.commit()
    scheduler.run_slot("TR-ORCH-001", "standup")
    assert prompts(slack) == []  # within the lease, the claim is respected
    jobs.advance(minutes=3)
    scheduler.tick()
    scheduler.tick()
    assert [p["text"] for p in prompts(slack)] == ["Sync: standup (TR-ORCH-001)"]  # once


def test_a_taken_over_slot_whose_prompt_was_posted_is_not_posted_twice(jobs, slack, engine):
    from bot.blocks import render_body_dicts
    from models.rules.sync import ask, claim_slot, scheduled_entries

    jobs.at(paris(2026, 1, 5, 9, 0))
    with Session(engine) as session:  # a process claims, asks, posts... and dies before recording it
        plan = session.exec(select(Plan)).one()
        entry = next(e for e in scheduled_entries(plan) if e.type == "standup")
        slot = claim_slot(session, plan, entry, jobs.now.astimezone(PARIS).date(), now=jobs.now, by="dead:1")
        prompt = ask(session, plan, slot, "standup", entry.required, now=jobs.now)
        session.commit()
    WebClient(token="xoxb-test", base_url=slack.url).chat_postMessage(
        channel="#tr-orchestration", text="Sync: standup (TR-ORCH-001)", blocks=render_body_dicts(prompt)
    )
    jobs.advance(minutes=3)
    scheduler.tick()
    assert len(prompts(slack)) == 1  # found in the channel, recorded, not posted again
    with Session(engine) as session:
        assert session.exec(select(SyncSlot.status)).one() == "posted"


# --- what syncs cost ----------------------------------------------------------------------


def overhead(jobs) -> float | None:
    return next(m.value for m in jobs("status").body.metrics if m.name == "communication-overhead")


def test_communication_overhead_counts_only_the_part_of_a_sync_already_held(jobs, slack):
    """A 15-minute standup posted at 09:00 is not 15 minutes of sync at 09:01 (it read 1500%)."""
    jobs.at(paris(2026, 1, 5, 9, 0))
    scheduler.run_slot("TR-ORCH-001", "standup")
    jobs.at(paris(2026, 1, 5, 9, 1))
    assert overhead(jobs) == 100.0  # one minute of working time, one of it in the standup
    jobs.at(paris(2026, 1, 5, 10, 0))
    assert overhead(jobs) == 25.0  # the whole 15 minutes, of 60
