"""A sync prompt whose post failed is tried again by its claimer within the sync (issue 15, item 5).

On a fake clock, through the app's own Slack client (bot.app.web_client) and the stand-in
(tests/fake_slack.py): a 500, an answer lost after Slack took the post, a look Slack refuses
(conversations.history, one call a minute for an app outside the Marketplace:
https://api.slack.com/changelog/2025-05-terms-rate-limit-update-and-faq).
"""

from datetime import UTC, datetime

import pytest
from slack_sdk import WebClient
from sqlmodel import Session, select

from bot import scheduler
from bot.app import web_client
from bot.blocks import render_body_dicts
from bot.sync_post import PROMPT_EVENT
from models.db.tables import Plan, SyncSlot
from models.rules.sync import ask, claim_slot, scheduled_entries
from tests.clock import PARIS


def paris(*args) -> datetime:
    return datetime(*args, tzinfo=PARIS).astimezone(UTC)


@pytest.fixture
def jobs(started, engine, slack):
    slack.clock = lambda: started.now.timestamp()  # Slack's clock and the bot's agree
    scheduler.use(engine, web_client("xoxb-test", slack.url), clock=lambda: started.now)
    yield started
    scheduler._runtime = None


def prompts(slack, entry: str = "standup") -> list:
    return [
        c
        for c in slack.calls_to("chat.postMessage", include_failed=False)
        if c.body.get("text") == f"Sync: {entry} (TR-ORCH-001)"
    ]


def slot_status(engine) -> list[str]:
    with Session(engine) as session:
        return list(session.exec(select(SyncSlot.status)).all())


def wait_and_retry(jobs, seconds: float) -> None:
    jobs.advance(seconds=seconds)
    scheduler.retry_posts()


def test_a_prompt_refused_500_is_posted_by_its_claimer_soon_after(jobs, slack, engine):
    jobs.at(paris(2026, 1, 5, 9, 0))
    slack.fail_next("chat.postMessage", status=500)
    scheduler.run_slot("TR-ORCH-001", "standup")
    assert prompts(slack) == [] and slot_status(engine) == ["claimed"]
    wait_and_retry(jobs, 2)
    [prompt] = prompts(slack)
    assert prompt.body["metadata"]["event_type"] == PROMPT_EVENT
    assert slot_status(engine) == ["posted"]
    wait_and_retry(jobs, 60)
    assert len(prompts(slack)) == 1


def test_a_prompt_whose_answer_was_lost_is_found_not_posted_twice(jobs, slack, engine):
    jobs.at(paris(2026, 1, 5, 9, 0))
    slack.lose_answer_next("chat.postMessage")
    scheduler.run_slot("TR-ORCH-001", "standup")
    assert len(prompts(slack)) == 1 and slot_status(engine) == ["claimed"]  # in the channel, not recorded
    wait_and_retry(jobs, 10)  # not looked for before a post sent then has surely landed
    assert slack.calls_to("conversations.history") == []
    wait_and_retry(jobs, 40)
    assert len(slack.calls_to("conversations.history")) == 1
    assert len(prompts(slack)) == 1 and slot_status(engine) == ["posted"]


def test_a_refused_look_delays_the_prompt_never_doubles_it(jobs, slack, engine):
    jobs.at(paris(2026, 1, 5, 9, 0))
    slack.lose_answer_next("chat.postMessage")
    scheduler.run_slot("TR-ORCH-001", "standup")
    WebClient(token="xoxb-test", base_url=slack.url).conversations_history(channel="#dev")  # the minute's call
    wait_and_retry(jobs, 45)  # the look is refused 429: nothing is posted
    assert len(prompts(slack)) == 1 and slot_status(engine) == ["claimed"]
    slack.a_minute_passes()
    wait_and_retry(jobs, 60)
    assert len(prompts(slack)) == 1 and slot_status(engine) == ["posted"]


def test_a_slot_slack_never_takes_ends_missed_not_claimed(jobs, slack, engine):
    jobs.at(paris(2026, 1, 5, 9, 0))
    slack.fail_next("chat.postMessage", status=500, times=1000)
    scheduler.run_slot("TR-ORCH-001", "standup")
    for _ in range(40):  # the 15-minute standup, and beyond
        wait_and_retry(jobs, 30)
    assert prompts(slack) == [] and slot_status(engine) == ["missed"]
    tries = slack.calls_to("chat.postMessage")
    assert 10 <= len(tries) <= 30  # backoff: not every round, and not given up early


def test_a_dead_claimers_slot_is_not_left_claimed_after_its_sync(jobs, slack, engine):
    jobs.at(paris(2026, 1, 5, 13, 0))
    with Session(engine) as session:
        plan = session.exec(select(Plan)).one()
        entry = next(e for e in scheduled_entries(plan) if e.type == "progress-check")  # 5 minutes
        claim_slot(session, plan, entry, jobs.now.astimezone(PARIS).date(), now=jobs.now, by="dead:1")
        session.commit()
    jobs.advance(minutes=10)  # the sync is over before anyone took it over
    scheduler.tick()
    assert slot_status(engine) == ["missed"]


def test_an_end_of_day_summary_refused_500_is_posted_soon_after(jobs, slack, engine):
    jobs.at(paris(2026, 1, 5, 17, 0))
    slack.fail_next("chat.postMessage", status=500, times=1)
    scheduler.run_slot("TR-ORCH-001", "end-of-day")  # the prompt is refused
    wait_and_retry(jobs, 2)  # the prompt goes; then the summary
    texts = [c.body["text"] for c in slack.calls_to("chat.postMessage", include_failed=False)]
    assert texts == ["Sync: end-of-day (TR-ORCH-001)", "End of day 2026-01-05 (TR-ORCH-001)"]
    assert len([c for c in slack.calls if c.method.startswith("upload:")]) == 1  # its chart


def test_a_taken_over_slot_is_looked_for_again_when_the_look_is_refused(jobs, slack, engine):
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
    slack.fail_next("conversations.history", status=500)
    jobs.advance(minutes=3)
    scheduler.tick()  # taken over; the look refused: nothing posted
    assert len(prompts(slack)) == 1 and slot_status(engine) == ["claimed"]
    slack.a_minute_passes()
    wait_and_retry(jobs, 61)
    assert len(prompts(slack)) == 1 and slot_status(engine) == ["posted"]


def test_a_summary_whose_chart_failed_is_not_posted_twice(jobs, slack, engine):
    jobs.at(paris(2026, 1, 5, 17, 0))
    slack.fail_next("files.getUploadURLExternal", status=500)  # after the summary's message landed
    scheduler.run_slot("TR-ORCH-001", "end-of-day")
    wait_and_retry(jobs, 2)  # looked for first: it is there
    summaries = [c for c in slack.calls_to("chat.postMessage") if c.body["text"].startswith("End of day")]
    assert len(summaries) == 1 and slot_status(engine) == ["posted"]


def test_an_on_demand_prompt_whose_poster_died_is_posted_by_another_once(jobs, slack, engine):
    from models.rules.sync import open_adhoc_slot

    jobs.at(paris(2026, 1, 5, 11, 0))
    with Session(engine) as session:  # `sync` ran on a process that died before posting its prompt
        plan = session.exec(select(Plan)).one()
        slot = open_adhoc_slot(session, plan, "ad-hoc", now=jobs.now, by="dead:1")
        ask(session, plan, slot, "ad-hoc", ["all-agents"], now=jobs.now)
        session.commit()
    jobs.advance(minutes=1)
    scheduler.tick()  # within the lease: left to its poster
    assert prompts(slack, "ad-hoc") == [] and slot_status(engine) == ["claimed"]
    jobs.advance(minutes=2)
    scheduler.tick()  # past it: looked for (not there), then posted
    assert len(prompts(slack, "ad-hoc")) == 1 and slot_status(engine) == ["posted"]
    jobs.advance(minutes=3)
    scheduler.tick()
    assert len(prompts(slack, "ad-hoc")) == 1
