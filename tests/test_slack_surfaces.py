"""Slack as it really is: every surface answers where the click came from, every message subtype a
sync answer can take, the handshake and the retries, announcements in the plan's channel.

End to end over real sockets: `serve --http`, the stand-in for Slack, and payloads taken from
Slack's own SDK tests and docs (tests/slack_payloads/, each naming its source).
"""

import json
import time

import pytest
import yaml
from sqlmodel import Session, select

from commands.core.dispatch import execute
from models.db.store import make_engine, upgrade
from models.db.tables import AuditEntry, Plan, Stream, SyncAnswer
from tests.fake_slack import FakeSlack
from tests.serve_process import ServeProcess, block_action, fixture
from tests.slack_app import OPERATOR, body_of, texts

CHANNEL = "C0PLAN0001"  # the fixtures' plan channel
LEAD, AGENT, STRANGER = "U0LEAD0001", "U0AGENT001", "U0NOBODY01"
PARENT_TS = "1717000000.000100"  # the fixtures' thread parent: replaced by the prompt's real ts


def plan_file(path) -> None:
    path.write_text(
        yaml.safe_dump(
            {
                "id": "SF-1",
                "title": "Surfaces",
                "timezone": "UTC",
                "channel": CHANNEL,
                "working-days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                "working-hours": ["00:00", "23:59"],
                "roles": {"leads": [LEAD]},
                "streams": [{"id": "build"}, {"id": "check"}],
                "agents": {
                    "dev": {"stream": "build", "slack-user": AGENT, "tasks": ["Build it", "Ship it"]},
                    "qa": {"stream": "check", "slack-user": "U0AGENT002", "tasks": ["Test it"]},
                },
                "checkpoints": [{"id": "cp-1", "name": "Ready", "day": 1, "criteria": ["Built", "Tested"]}],
                "sync-schedule": [
                    {"time": "23:58", "type": "standup", "duration": "15min", "required": ["all-agents"]}
                ],
            }
        )
    )


@pytest.fixture
def slack():
    """The stand-in with Slack's rate limits on (tests/fake_slack.py RATE_LIMITS)."""
    with FakeSlack(rate_limits=True) as fake:
        yield fake


@pytest.fixture
def plan_store(tmp_path):
    plan_file(tmp_path / "sf.yml")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    execute(engine, ["plan", "load", str(tmp_path / "sf.yml")], OPERATOR)
    execute(engine, ["start", "SF-1"], OPERATOR)
    yield url, engine
    engine.dispose()


@pytest.fixture
def bot(tmp_path, slack, plan_store):
    process = ServeProcess(tmp_path, slack.url, plan_store[0])
    try:
        process.wait_healthy()
        yield process
    finally:
        process.stop()


def view_of(call) -> dict:
    view = call.body["view"]
    return view if isinstance(view, dict) else json.loads(view)


def slash_fixture(name: str, text: str, response_url: str, user: str = LEAD) -> dict:
    doc = fixture(name)
    doc["payload"].update(text=text, response_url=response_url, user_id=user)
    return doc


def send_slash(bot, name: str, text: str, response_url: str, user: str = LEAD):
    from urllib.parse import urlencode

    payload = slash_fixture(name, text, response_url, user)["payload"]
    return bot.post(urlencode(payload), "application/x-www-form-urlencoded")


def audit_commands(engine) -> list[str]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEntry.command).order_by(AuditEntry.id)))


def stream_status(engine, key: str) -> str:
    with Session(engine) as session:
        return session.exec(select(Stream.status).where(Stream.key == key)).one()


# --- 1. Home-tab buttons answer in the Home tab ------------------------------------------


def home_click(bot, action_id: str, value: str, user: str = LEAD):
    doc = fixture("block_actions_home_button")
    payload = doc["payload"]
    payload["user"]["id"] = user
    payload["actions"][0].update(action_id=action_id, value=value)
    return bot.interaction(payload)


def test_a_home_tab_pause_republishes_the_home_view_with_the_new_state_and_a_confirmation(bot, slack, plan_store):
    status, _ = home_click(bot, "stream_pause", "SF-1|build")
    assert status == 200
    published = view_of(slack.wait_for("views.publish")[0])
    assert slack.wait_for("views.publish")[0].body["user_id"] == LEAD
    shown = texts(published["blocks"])
    assert "Paused build" in shown  # the confirmation, in the Home view itself
    assert "Resume" in shown  # the dashboard now shows the paused stream's Resume button
    assert stream_status(plan_store[1], "build") == "paused"
    assert slack.calls_to("http:/response") == [] and slack.errors == []
    # The change is announced in the plan's channel, where the team sees it.
    announced = [body_of(c) for c in slack.wait_for("chat.postMessage")]
    assert [a["channel"] for a in announced] == [CHANNEL] and "Paused build" in announced[0]["text"]


def test_a_home_tab_refusal_reaches_the_clicker_in_the_home_view(bot, slack, plan_store):
    home_click(bot, "stream_pause", "SF-1|build", user=STRANGER)
    published = view_of(slack.wait_for("views.publish")[0])
    assert "only a lead of SF-1 may pause a stream" in texts(published["blocks"])
    assert stream_status(plan_store[1], "build") == "active"


def test_a_home_tab_refresh_republishes(bot, slack):
    home_click(bot, "dashboard_refresh", "SF-1")
    published = view_of(slack.wait_for("views.publish")[0])
    assert published["type"] == "home" and "SF-1" in texts(published["blocks"])


def test_show_more_in_the_home_tab_shows_the_next_page_there(bot, slack):
    home_click(bot, "page_more", json.dumps({"command": "health", "plan": "SF-1", "offset": 0}))
    published = view_of(slack.wait_for("views.publish")[0])
    shown = texts(published["blocks"])
    assert "*dev*" in shown and "*qa*" in shown  # the agent monitor's page, drawn in the Home view
    assert len(published["blocks"]) <= 100 and slack.errors == []


# --- 4 (and issue 14.7). Permission first, then modals --------------------------------------


def test_a_strangers_emergency_stop_is_refused_at_once_without_a_modal(bot, slack, plan_store):
    bot.slash('stop --emergency --reason "x"', slack.response_url("p1"), user=STRANGER, channel=CHANNEL)
    refusal = body_of(slack.wait_for("response:p1")[0])
    assert refusal["response_type"] == "ephemeral" and "only a lead of SF-1 may stop a plan" in refusal["text"]
    bot.slash("validate --checkpoint cp-1 --force", slack.response_url("p2"), user=STRANGER, channel=CHANNEL)
    refusal = body_of(slack.wait_for("response:p2")[0])
    assert "only a lead of SF-1 may force a checkpoint" in refusal["text"]
    assert slack.calls_to("views.open") == []
    with Session(plan_store[1]) as session:
        assert session.exec(select(Plan.status)).one() == "running"


def test_an_emergency_stop_without_a_reason_opens_the_reason_modal(bot, slack):
    bot.slash("stop --emergency", slack.response_url("p3"), channel=CHANNEL)
    view = view_of(slack.wait_for("views.open")[0])
    assert view["title"]["text"] == "Emergency stop"
    reason = next(b for b in view["blocks"] if b.get("block_id") == "reason")
    assert "initial_value" not in reason["element"]
    assert slack.calls_to("response:p3") == []


def test_a_forced_gate_with_a_reason_opens_the_modal_pre_filled(bot, slack):
    bot.slash('validate --checkpoint cp-1 --force --reason "demo build"', slack.response_url("p4"), channel=CHANNEL)
    view = view_of(slack.wait_for("views.open")[0])
    reason = next(b for b in view["blocks"] if b.get("block_id") == "reason")
    assert reason["element"]["initial_value"] == "demo build"


# --- 3. Answers in the prompt's thread, of every kind -------------------------------------


def post_prompt(bot, slack) -> str:
    bot.slash("sync --type standup", slack.response_url("sy"), channel=CHANNEL)
    prompt = slack.wait_for("chat.postMessage")[0]
    assert prompt.body["channel"] == CHANNEL
    slack.wait_for("response:sy")  # said once the prompt's place is recorded: replies in its thread now count
    [posted] = slack.messages(CHANNEL)
    return posted["ts"]


def answer_of(engine, agent_key: str = "dev") -> SyncAnswer:
    from models.db.tables import Agent

    with Session(engine) as session:
        return session.exec(
            select(SyncAnswer).join(Agent, Agent.id == SyncAnswer.agent_id).where(Agent.key == agent_key)
        ).one()


def last_prompt_text(slack, count: int) -> str:
    update = slack.wait_for("chat.update", count=count, timeout=15)[-1]
    return texts(body_of(update)["blocks"])


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("event_message_thread_broadcast", "Blocked on cp-2: coverage at 88%"),
        ("event_message_file_share", "coverage-report.png"),
    ],
)
def test_a_thread_answer_of_any_subtype_counts(bot, slack, plan_store, name, shown):
    ts = post_prompt(bot, slack)
    status, _ = bot.send_fixture(name, {PARENT_TS: ts})
    assert status == 200
    assert shown in last_prompt_text(slack, 1)
    stored = answer_of(plan_store[1])
    assert stored.answered_at is not None and shown in json.dumps(stored.answer)


def test_an_edited_answer_updates_the_stored_answer_and_the_prompt_and_a_deleted_one_is_withdrawn(
    bot, slack, plan_store
):
    ts = post_prompt(bot, slack)
    reply = fixture("event_message_thread_reply", {PARENT_TS: ts})
    bot.post(json.dumps(reply["payload"]), "application/json")
    assert "T1 done, PR merged" in last_prompt_text(slack, 1)
    bot.send_fixture("event_message_changed_thread_reply", {PARENT_TS: ts})
    assert "T1 done, PR merged and deployed" in last_prompt_text(slack, 2)
    assert answer_of(plan_store[1]).answer["reply"] == "T1 done, PR merged and deployed"
    bot.send_fixture("event_message_deleted", {PARENT_TS: ts})
    shown = last_prompt_text(slack, 3)
    assert "PR merged" not in shown and "0/2 answered" in shown
    assert answer_of(plan_store[1]).answered_at is None


def test_other_bots_and_the_bots_own_messages_are_not_answers(bot, slack, plan_store):
    ts = post_prompt(bot, slack)
    for name in ("event_message_bot_message", "event_message_other_app_bot", "event_message_own_bot"):
        bot.send_fixture(name, {PARENT_TS: ts})
    bot.slash("status", slack.response_url("after"), channel=CHANNEL)
    slack.wait_for("response:after")
    assert slack.calls_to("chat.update") == []
    assert answer_of(plan_store[1]).answered_at is None


# --- 5. Announcements go to the plan's channel ----------------------------------------------


@pytest.mark.parametrize("name", ["command_status_dm", "command_status_private"])
def test_a_change_typed_elsewhere_is_announced_in_the_plans_channel(bot, slack, plan_store, name):
    send_slash(bot, name, "pause build --plan SF-1", slack.response_url("an"))
    announced = body_of(slack.wait_for("chat.postMessage")[0])
    assert announced["channel"] == CHANNEL and "Paused build" in announced["text"]
    assert "by <@U0LEAD0001>" in texts(announced["blocks"])
    here = body_of(slack.wait_for("response:an")[0])  # and the person who typed it sees it where they typed it
    assert "Paused build" in here["text"]


def test_a_change_typed_in_the_plans_channel_is_announced_once(bot, slack):
    bot.slash("pause build", slack.response_url("once"), channel=CHANNEL)
    announced = body_of(slack.wait_for("response:once")[0])
    assert announced["response_type"] == "in_channel"
    bot.slash("status", slack.response_url("after"), channel=CHANNEL)
    slack.wait_for("response:after")
    assert slack.calls_to("chat.postMessage") == []


# --- 6. Handshake and retries --------------------------------------------------------------


def test_ssl_check_and_url_verification_are_answered_as_slacks_sdks_do(bot, slack):
    from urllib.parse import urlencode

    # Slack's SDKs answer ssl_check before verifying: Slack does not sign it.
    status, body = bot.post(
        urlencode(fixture("ssl_check")["payload"]), "application/x-www-form-urlencoded", signature="v0=unsigned"
    )
    assert (status, body) == (200, "")
    status, body = bot.send_fixture("url_verification")
    challenge = fixture("url_verification")["payload"]["challenge"]
    assert status == 200 and challenge in body


def test_a_retried_home_open_publishes_once_and_opening_is_not_audited(bot, slack, plan_store):
    before = audit_commands(plan_store[1])
    bot.send_fixture("event_app_home_opened_first_visit", {"U0AGENT001": LEAD})
    slack.wait_for("views.publish")
    # Slack re-sends the same body seconds later (so with another signature), marked as a retry.
    bot.send_fixture("event_app_home_opened_retry", {"U0AGENT001": LEAD}, retry_num=1, timestamp=int(time.time()) + 2)
    # Another person's open, sent after the retry, as the sentinel: once it is drawn, so would the retry be.
    bot.send_fixture("event_app_home_opened_with_view", {"U0LEAD0001": "U0AGENT002"})
    published = slack.wait_for("views.publish", count=2)
    assert [c.body["user_id"] for c in published] == [LEAD, "U0AGENT002"]
    assert audit_commands(plan_store[1]) == before  # opening the Home tab is no command


# --- 7. Within Slack's limits -----------------------------------------------------------------


def test_a_burst_of_answers_redraws_the_prompt_coalesced_with_the_latest_state(bot, slack, plan_store):
    ts = post_prompt(bot, slack)
    for n in range(6):
        event = {
            "type": "message",
            "user": AGENT,
            "text": f"draft {n}",
            "ts": f"1717000300.00{n:04d}",
            "thread_ts": ts,
            "channel": CHANNEL,
            "channel_type": "channel",
        }
        bot.event(event, event_id=f"EvBurst{n}")
    slack.wait_for("chat.update", timeout=15)
    # The last answer is drawn, in at most two updates (the first at once, the rest coalesced).
    deadline = time.monotonic() + 20
    while "draft 5" not in texts(body_of(slack.calls_to("chat.update")[-1])["blocks"]):
        assert time.monotonic() < deadline, "the latest answer never reached the prompt"
        time.sleep(0.2)
    assert len(slack.calls_to("chat.update")) <= 2
    assert answer_of(plan_store[1]).answer["reply"] == "draft 5"
    assert slack.ratelimited == {} and slack.errors == []


def test_the_answer_modal_opens_while_the_other_workers_wait_on_a_slow_slack(bot, slack):
    bot.slash("sync --type standup", slack.response_url("sy"), channel=CHANNEL)
    prompt = body_of(slack.wait_for("chat.postMessage")[0])
    slot = next(e["value"] for b in prompt["blocks"] if b["type"] == "actions" for e in b["elements"])
    slack.wait_for("response:sy")  # the prompt's place is recorded
    slack.delays["response:slow"] = 6.0  # each refresh's answer hangs: every listener worker is taken
    for _ in range(6):
        bot.interaction(block_action("dashboard_refresh", "SF-1", slack.response_url("slow"), channel=CHANNEL))
    click = block_action("sync_answer", slot, slack.response_url("a1"), user=AGENT, channel=CHANNEL)
    click["trigger_id"] = slack.trigger_id()  # Slack's: good for 3 s, once
    bot.interaction(click)
    opened = view_of(slack.wait_for("views.open", timeout=10)[0])
    assert opened["callback_id"] == "sync_answer_submit"
    assert ("views.open", "expired_trigger_id") not in slack.refusals


def test_when_slack_refuses_the_modal_for_its_rate_limit_the_clicker_is_told_at_once(bot, slack):
    bot.slash("sync --type standup", slack.response_url("sy"), channel=CHANNEL)
    prompt = body_of(slack.wait_for("chat.postMessage")[0])
    slot = next(e["value"] for b in prompt["blocks"] if b["type"] == "actions" for e in b["elements"])
    slack.wait_for("response:sy")  # the prompt's place is recorded
    slack.fail_next("views.open", status=429, retry_after=30)  # a retry after 30 s would find the trigger dead
    click = block_action("sync_answer", slot, slack.response_url("busy"), user=AGENT, channel=CHANNEL)
    click["trigger_id"] = slack.trigger_id()
    bot.interaction(click)
    told = body_of(slack.wait_for("response:busy", timeout=10)[0])
    assert told["response_type"] == "ephemeral" and "reply in the prompt's thread" in told["text"]
    assert len(slack.calls_to("views.open")) == 1  # no retry holding a worker for 30 s


# --- 9. Big plans are whole in Slack ------------------------------------------------------------


def test_a_prompt_too_long_for_one_message_says_how_many_more_and_shows_them(tmp_path):
    from bot.blocks import render_body_dicts
    from commands.core.context import Actor
    from commands.core.dispatch import Invocation
    from tests.fake_slack import MAX_MESSAGE_BLOCKS, _block_errors

    agents = {f"a{n:03d}": {"stream": "build", "slack-user": f"U0A{n:07d}", "tasks": [f"Work {n}"]} for n in range(150)}
    (tmp_path / "big.yml").write_text(
        yaml.safe_dump(
            {
                "id": "BIG-1",
                "timezone": "UTC",
                "channel": CHANNEL,
                "roles": {"leads": [LEAD]},
                "streams": [{"id": "build"}],
                "agents": agents,
            }
        )
    )
    engine = make_engine(f"sqlite:///{tmp_path / 'big.db'}")
    try:
        upgrade(engine)
        execute(engine, ["plan", "load", str(tmp_path / "big.yml")], OPERATOR)
        execute(engine, ["start", "BIG-1"], OPERATOR)
        lead = Invocation(actor=Actor(id=f"slack:{LEAD}", name="lead", source="slack", slack_user=LEAD), front="slack")
        posted = execute(engine, ["sync", "--plan", "BIG-1"], lead)
        first = render_body_dicts(posted.body)
        assert _block_errors(first, MAX_MESSAGE_BLOCKS, "/blocks") == []
        shown = texts(first)
        assert f"and 50 more: `/orchestrate answers --slot {posted.prompt_to_post}` shows them all" in shown
        more = next(e for b in first if b["type"] == "actions" for e in b["elements"] if e["action_id"] == "page_more")
        page = json.loads(more["value"])
        assert (page["command"], page["slot"], page["offset"]) == ("answers", posted.prompt_to_post, 100)
        rest = execute(engine, ["answers", "--slot", str(page["slot"])], lead, audited=False)
        second = texts(render_body_dicts(rest.body, offset=page["offset"]))
        assert "<@U0A0000149>" in second and "<@U0A0000000>" not in second
    finally:
        engine.dispose()
