"""Alert delivery under Slack's faults and real limits (issue 15): a 429 never holds the worker, a lost
answer is looked for once per channel among the messages since the attempt, a refused look is "later".

The stand-in is tests/fake_slack.py: 429 with Retry-After as Slack's rate limiter sends it, posts accepted
and their answer lost, conversations.history at one call a minute and 15 messages (Slack's 2025 changelog,
https://api.slack.com/changelog/2025-05-terms-rate-limit-update-and-faq), message metadata as
chat.postMessage takes it (https://api.slack.com/reference/metadata).
"""

import pytest
from slack_sdk import WebClient
from sqlmodel import Session, select

from bot.app import web_client
from bot.delivery import DELIVERY_EVENT, Outlets, deliver_due
from models.db.tables import AlertDelivery


@pytest.fixture
def outlets(slack, mailbox, sms, started):
    """The app's own client (bot.app.web_client, with its retry handlers), Slack's clock the test's."""
    slack.clock = lambda: started.now.timestamp()
    return Outlets(client=web_client("xoxb-test", slack.url), smtp_url=mailbox.url, sms_url=sms.url)


def rows(engine) -> dict[int, AlertDelivery]:
    with Session(engine) as session:
        return {d.id: d for d in session.exec(select(AlertDelivery))}


def statuses(engine, destination: str) -> list[str]:
    return [d.status for d in rows(engine).values() if d.destination == destination]


def posts_to(slack, channel: str) -> list:
    return [c for c in slack.calls_to("chat.postMessage", include_failed=False) if c.body["channel"] == channel]


def human_chatter(slack, channel: str, count: int) -> None:
    people = WebClient(token="xoxb-people", base_url=slack.url)
    for i in range(count):
        people.chat_postMessage(channel=channel, text=f"chatter {i}")


# --- 1. a 429 reschedules its row; the worker goes on ------------------------------------------


def test_a_rate_limited_post_waits_in_the_outbox_not_in_the_worker(started, engine, outlets, slack, mailbox, sms):
    started("event critical-bug")  # #urgent, email, SMS
    started("task done T1")  # #general
    slack.fail_next("chat.postMessage", status=429, retry_after=3)  # the first post: #urgent's
    deliver_due(engine, outlets, lambda: started.now)
    # The worker did not sleep through the Retry-After: Slack was asked once, the row waits its 3 s in
    # the outbox, and every other destination went in the same round.
    assert len(slack.calls_to("chat.postMessage")) == 2  # #urgent refused, #general posted
    assert statuses(engine, "slack-urgent") == ["pending"]
    [urgent] = [d for d in rows(engine).values() if d.destination == "slack-urgent"]
    assert (urgent.next_attempt_at - started.now).total_seconds() == pytest.approx(3, abs=0.01)
    assert len(posts_to(slack, "#general")) == 1 and len(mailbox.messages) == 1 and len(sms.received) == 1
    started.advance(seconds=3)
    deliver_due(engine, outlets, lambda: started.now)
    assert statuses(engine, "slack-urgent") == ["sent"] and len(posts_to(slack, "#urgent")) == 1


def test_a_channel_that_refused_is_not_asked_again_in_the_same_round(started, engine, outlets, slack, mailbox):
    for name in ("critical-bug", "deployment-failed"):  # both critical: #urgent, email, SMS
        started(f"event {name}")
    slack.fail_next("chat.postMessage", status=429, retry_after=30)
    deliver_due(engine, outlets, lambda: started.now)
    # One call to #urgent, refused; the other #urgent row waits for the same Retry-After untried;
    # the emails went.
    assert len([c for c in slack.calls_to("chat.postMessage") if c.body["channel"] == "#urgent"]) == 1
    assert statuses(engine, "slack-urgent") == ["pending"] * 2
    assert len(mailbox.messages) == 2
    started.advance(seconds=30)
    deliver_due(engine, outlets, lambda: started.now)
    assert statuses(engine, "slack-urgent") == ["sent"] * 2 and len(posts_to(slack, "#urgent")) == 2
    assert max(d.attempts for d in rows(engine).values() if d.destination == "slack-urgent") == 2


def test_the_delivery_lease_must_outlast_a_slack_request():
    from models.state.outbox import check_lease

    check_lease(30)  # the defaults: a 60 s lease, a 30 s request timeout
    with pytest.raises(ValueError, match="ORCHESTRATE_DELIVERY_LEASE_SECONDS is 60: it must be at least 65"):
        check_lease(55)


# --- 2. never twice, without trusting a look Slack rations -----------------------------------


def test_each_post_carries_its_delivery_in_message_metadata(started, engine, outlets, slack):
    started("event critical-bug")
    deliver_due(engine, outlets, lambda: started.now)
    [post] = posts_to(slack, "#urgent")
    [row] = [d for d in rows(engine).values() if d.destination == "slack-urgent"]
    assert post.body["metadata"]["event_type"] == DELIVERY_EVENT
    assert post.body["metadata"]["event_payload"]["delivery_id"] == row.id


def test_a_lost_answer_in_a_busy_channel_is_found_among_the_messages_since_the_attempt(started, engine, outlets, slack):
    slack.lose_answer_next("chat.postMessage")
    started("event critical-bug")
    deliver_due(engine, outlets, lambda: started.now)  # posted; the answer lost
    started.advance(minutes=1)
    human_chatter(slack, "#urgent", 20)  # since then: more than the 15 messages a look gives
    started.advance(minutes=1)
    deliver_due(engine, outlets, lambda: started.now)
    assert len(posts_to(slack, "#urgent")) == 1 + 20  # the alert once, and the chatter
    assert statuses(engine, "slack-urgent") == ["sent"]
    [look] = slack.calls_to("conversations.history")
    assert int(look.body["limit"]) == 15


def test_more_than_a_page_since_the_attempt_is_looked_through_a_page_a_minute(started, engine, outlets, slack):
    slack.lose_answer_next("chat.postMessage")
    started("event critical-bug")
    deliver_due(engine, outlets, lambda: started.now)  # posted; the answer lost
    human_chatter(slack, "#urgent", 20)  # at once after it: the post is not among the newest 15
    for _ in range(3):
        slack.a_minute_passes()
        started.advance(minutes=1)
        deliver_due(engine, outlets, lambda: started.now)
    assert len(slack.calls_to("conversations.history")) == 2  # the newest page, then the one before
    assert len(posts_to(slack, "#urgent")) == 1 + 20 and statuses(engine, "slack-urgent") == ["sent"]


@pytest.mark.parametrize("refusal", ["the minute's one call is spent", "Slack answers 500"])
def test_a_refused_look_means_later_never_not_there(started, engine, outlets, slack, refusal):
    slack.lose_answer_next("chat.postMessage")
    started("event critical-bug")
    deliver_due(engine, outlets, lambda: started.now)
    if refusal == "Slack answers 500":
        slack.fail_next("conversations.history", status=500)
    else:
        WebClient(token="xoxb-test", base_url=slack.url).conversations_history(channel="#dev")
    started.advance(minutes=2)
    deliver_due(engine, outlets, lambda: started.now)  # the look is refused: nothing is posted
    assert len(posts_to(slack, "#urgent")) == 1 and statuses(engine, "slack-urgent") == ["pending"]
    slack.a_minute_passes()
    started.advance(minutes=1)
    deliver_due(engine, outlets, lambda: started.now)
    assert len(posts_to(slack, "#urgent")) == 1 and statuses(engine, "slack-urgent") == ["sent"]


def test_one_look_per_channel_settles_all_its_rows_in_doubt(started, engine, outlets, slack, mailbox, sms):
    slack.lose_answer_next("chat.postMessage", times=2)
    started("event critical-bug")
    deliver_due(engine, outlets, lambda: started.now)  # its post's answer lost: #urgent held for this round
    started("event deployment-failed")
    started.advance(seconds=6)
    deliver_due(engine, outlets, lambda: started.now)  # this one's too
    assert statuses(engine, "slack-urgent") == ["pending"] * 2 and slack.calls_to("conversations.history") == []
    started.advance(minutes=1)  # both looked for once a post sent then has surely landed
    deliver_due(engine, outlets, lambda: started.now)
    assert len(slack.calls_to("conversations.history")) == 1
    assert statuses(engine, "slack-urgent") == ["sent"] * 2 and len(posts_to(slack, "#urgent")) == 2
    assert len(mailbox.messages) == 2 and len(sms.received) == 2


def doubted_in_two_channels(started, engine, outlets, slack) -> None:
    """An alert to #urgent and one to #general, each post's answer lost: both in doubt."""
    slack.lose_answer_next("chat.postMessage", times=2)
    started("event critical-bug")  # #urgent (and email, SMS)
    started("task done T1")  # #general
    deliver_due(engine, outlets, lambda: started.now)
    assert len(posts_to(slack, "#urgent")) == len(posts_to(slack, "#general")) == 1


def looks(slack) -> list[tuple[str, bool]]:
    """Each conversations.history call: its channel, and whether Slack answered it."""
    return [(c.body["channel"], not c.failed) for c in slack.calls_to("conversations.history", include_failed=True)]


def test_replicas_take_turns_at_the_one_look_a_minute_and_none_is_refused(started, engine, outlets, slack):
    """Slack counts the app's one conversations.history call a minute across all its processes: a look
    another replica (or another channel) would spend is not made, and waits for its turn."""
    doubted_in_two_channels(started, engine, outlets, slack)
    other = Outlets(client=web_client("xoxb-test", slack.url), smtp_url=outlets.smtp_url, sms_url=outlets.sms_url)
    started.advance(minutes=1)
    for replica in (outlets, other):
        deliver_due(engine, replica, lambda: started.now)
    assert looks(slack) == [("#urgent", True)]  # one channel this minute; the other replica waited
    slack.a_minute_passes()
    started.advance(seconds=61)
    for replica in (other, outlets):
        deliver_due(engine, replica, lambda: started.now)
    assert looks(slack) == [("#urgent", True), ("#general", True)]
    assert len(posts_to(slack, "#urgent")) == len(posts_to(slack, "#general")) == 1
    assert {d.status for d in rows(engine).values()} == {"sent"}


def test_a_channel_paging_back_through_its_history_does_not_hold_another_channels_look(started, engine, outlets, slack):
    doubted_in_two_channels(started, engine, outlets, slack)
    human_chatter(slack, "#urgent", 20)  # #urgent's post is a page back
    for _ in range(3):
        slack.a_minute_passes()
        started.advance(seconds=61)
        deliver_due(engine, outlets, lambda: started.now)
    # #urgent's newest page, then #general (waiting longer than #urgent's page further back), then that page.
    assert looks(slack) == [("#urgent", True), ("#general", True), ("#urgent", True)]
    assert len(posts_to(slack, "#urgent")) == 1 + 20 and len(posts_to(slack, "#general")) == 1
    assert {d.status for d in rows(engine).values()} == {"sent"}


def test_a_post_not_found_since_its_attempt_is_posted_again(started, engine, outlets, slack):
    """The connection was lost before Slack had it (Slack refused the call, the answer never came): the
    look finds nothing since the attempt, and the alert is posted then."""
    slack.fail_next("chat.postMessage", status=500)
    slack.lose_answer_next("chat.postMessage")
    started("event critical-bug")
    deliver_due(engine, outlets, lambda: started.now)
    started.advance(minutes=1)
    deliver_due(engine, outlets, lambda: started.now)  # looked: not there; posted
    assert len(slack.calls_to("conversations.history")) == 1
    assert statuses(engine, "slack-urgent") == ["sent"] and len(posts_to(slack, "#urgent")) == 1
