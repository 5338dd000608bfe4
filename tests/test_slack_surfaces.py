"""Slack as it really is: every surface answers where the click came from, every message subtype a
sync answer can take, the handshake and the retries, announcements in the plan's channel.

End to end over real sockets: `serve --http`, the stand-in for Slack, and payloads taken from
Slack's own SDK tests and docs (tests/slack_payloads/, each naming its source).
"""

import json
import re
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

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
    payload = slash_fixture(name, text, response_url, user)["payload"]
    return bot.post(urlencode(payload), "application/x-www-form-urlencoded")


def audit_commands(engine) -> list[str]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEntry.command).order_by(AuditEntry.id)))


def stream_status(engine, key: str) -> str:
    with Session(engine) as session:
        return session.exec(select(Stream.status).where(Stream.key == key)).one()


# --- 1. Home-tab buttons answer in the Home tab ------------------------------------------


def home_click(bot, action_id: str, value: str, user: str = LEAD, trigger_id: str | None = None):
    doc = fixture("block_actions_home_button")
    payload = doc["payload"]
    payload["user"]["id"] = user
    if trigger_id:
        payload["trigger_id"] = trigger_id
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
    # A page further on (a message's Show more replaces its page; the Home tab has no message to replace).
    home_click(bot, "page_more", json.dumps({"command": "health", "plan": "SF-1", "offset": 1}))
    further = texts(view_of(slack.wait_for("views.publish", count=2)[-1])["blocks"])
    assert "*qa*" in further and "*dev*" not in further


# --- 2. The Home tab is personal ------------------------------------------------------------


def open_home(bot, slack, user: str, count: int = 1) -> dict:
    bot.send_fixture("event_app_home_opened_first_visit", {"U0AGENT001": user, "Ev0HOME0002": f"EvHome{user}"})
    return view_of(slack.wait_for("views.publish", count=count)[-1])


def buttons(view: dict) -> dict[str, list[str]]:
    """Each button of a view by its text: the values it carries (a text may be on several)."""
    found: dict[str, list[str]] = {}
    for block in view["blocks"]:
        for element in [block.get("accessory") or {}, *block.get("elements", [])]:
            if element.get("type") == "button":
                found.setdefault(element["text"]["text"], []).append(element.get("value", ""))
    return found


def task_status(engine, key: str) -> tuple[str, str | None]:
    from models.db.tables import Task

    with Session(engine) as session:
        task = session.exec(select(Task).where(Task.key == key)).one()
        return task.status, task.reason


def test_an_agent_sees_their_own_tasks_and_starts_one_from_the_home_tab(bot, slack, plan_store):
    view = open_home(bot, slack, AGENT)
    shown = texts(view["blocks"])
    assert "Your tasks in SF-1* as *dev*" in shown and "Build it" in shown and "Ship it" in shown
    assert "Test it" not in shown  # qa's task, not theirs
    assert "Pause" not in buttons(view)  # a lead's controls are for leads
    assert buttons(view)["Start"] == ["SF-1|T1", "SF-1|T2"]
    home_click(bot, "task_start", "SF-1|T1", user=AGENT)
    after = view_of(slack.wait_for("views.publish", count=2)[-1])
    assert "T1 'Build it' is now in-progress" in texts(after["blocks"])  # the confirmation, in the view
    assert buttons(after)["Done"] == ["SF-1|T1"] and buttons(after)["Blocked"] == ["SF-1|T1"]
    assert "*Current*" in texts(after["blocks"])
    assert task_status(plan_store[1], "T1")[0] == "in-progress"
    announced = body_of(slack.wait_for("chat.postMessage")[0])  # the team sees it in the plan's channel
    assert announced["channel"] == CHANNEL and "is now in-progress" in announced["text"]
    home_click(bot, "task_done", "SF-1|T1", user=AGENT)
    done = view_of(slack.wait_for("views.publish", count=3)[-1])
    assert "T1 'Build it' is now done" in texts(done["blocks"]) and "Done" not in buttons(done)
    assert task_status(plan_store[1], "T1")[0] == "done"
    # Both announced in the plan's channel (the second waits out Slack's one post a second there).
    announced = [body_of(c) for c in slack.wait_for("chat.postMessage", count=2, include_failed=False, timeout=10)]
    assert [(a["channel"], a["text"].split(" is now ")[1]) for a in announced] == [
        (CHANNEL, "in-progress."),
        (CHANNEL, "done."),
    ]
    assert slack.errors == []


def test_a_task_button_on_someone_elses_task_is_refused_in_the_home_view(bot, slack, plan_store):
    home_click(bot, "task_start", "SF-1|T3", user=AGENT)  # T3 is qa's
    published = view_of(slack.wait_for("views.publish")[0])
    assert "only a lead of SF-1 may change another agent's task" in texts(published["blocks"])
    assert task_status(plan_store[1], "T3")[0] == "ready"


def test_blocked_on_the_home_tab_asks_what_blocks_it_then_republishes(bot, slack, plan_store):
    home_click(bot, "task_start", "SF-1|T1", user=AGENT)
    slack.wait_for("views.publish")
    click = fixture("block_actions_home_button")["payload"]
    click["user"]["id"] = AGENT
    click["actions"][0].update(action_id="task_block", value="SF-1|T1")
    click["trigger_id"] = slack.trigger_id()
    bot.interaction(click)
    modal = view_of(slack.wait_for("views.open")[0])
    assert modal["title"]["text"] == "Blocked" and "What blocks *T1*?" in texts(modal["blocks"])
    bot.interaction(
        {
            "type": "view_submission",
            "team": {"id": "T0TEST"},
            "api_app_id": "A0TEST",
            "user": {"id": AGENT, "username": "dev"},
            "view": {
                **modal,
                "id": "V0BLOCK",
                "state": {"values": {"reason": {"value": {"type": "plain_text_input", "value": "waiting on CI"}}}},
            },
        }
    )
    after = view_of(slack.wait_for("views.publish", count=2)[-1])
    shown = texts(after["blocks"])
    assert "is now blocked (waiting on CI)" in shown and "*Blocked*" in shown
    assert buttons(after)["Start again"] == ["SF-1|T1"]
    assert task_status(plan_store[1], "T1") == ("blocked", "waiting on CI")


def test_a_strangers_blocked_click_is_refused_before_any_modal(bot, slack, plan_store):
    click = fixture("block_actions_home_button")["payload"]
    click["user"]["id"] = STRANGER
    click["actions"][0].update(action_id="task_block", value="SF-1|T1")
    bot.interaction(click)
    published = view_of(slack.wait_for("views.publish")[0])
    assert "only a lead of SF-1 may change another agent's task" in texts(published["blocks"])
    assert slack.calls_to("views.open") == [] and task_status(plan_store[1], "T1")[0] == "ready"


def open_away_modal(bot, slack) -> dict:
    """The agent presses Away… on their Home tab (a fresh trigger_id, as Slack gives each click)."""
    home_click(bot, "home_away", "SF-1|dev", user=AGENT, trigger_id=slack.trigger_id())
    return view_of(slack.wait_for("views.open")[0])


def submit_away(bot, modal: dict, user: str, until: str | None, reason: str) -> None:
    """The Away… modal submitted (Slack's view_submission: a datepicker's selected_date, a text input's value)."""
    values = {
        "until": {"date": {"type": "datepicker", "selected_date": until}},
        "reason": {"text": {"type": "plain_text_input", "value": reason}},
    }
    bot.interaction(
        {
            "type": "view_submission",
            "team": {"id": "T0TEST"},
            "api_app_id": "A0TEST",
            "user": {"id": user, "username": "dev"},
            "view": {**modal, "id": "V0AWAY", "state": {"values": values}},
        }
    )


def test_away_and_back_from_the_home_tab_republish_it_with_the_new_state(bot, slack, plan_store):
    view = open_home(bot, slack, AGENT)
    assert buttons(view)["Away…"] == ["SF-1|dev"] and "Back" not in buttons(view)
    modal = open_away_modal(bot, slack)
    assert modal["title"]["text"] == "Time off" and "Away from now as *dev* in *SF-1*" in texts(modal["blocks"])
    last_day = (datetime.now(UTC) + timedelta(days=7)).date()
    submit_away(bot, modal, AGENT, last_day.isoformat(), "dentist")
    away = view_of(slack.wait_for("views.publish", count=2)[-1])
    shown = texts(away["blocks"])
    assert f"dev is away through {last_day:%a %d %b %Y} (dentist)" in shown  # the confirmation, in the view
    assert f"You are away through {last_day:%a %d %b %Y}" in shown
    assert buttons(away)["Back"] == ["SF-1|dev"] and "Away…" not in buttons(away)
    home_click(bot, "home_back", "SF-1|dev", user=AGENT)
    back = view_of(slack.wait_for("views.publish", count=3)[-1])
    assert "dev is back" in texts(back["blocks"]) and "You are away" not in texts(back["blocks"])
    assert buttons(back)["Away…"] == ["SF-1|dev"]
    # Both announced in the plan's channel (the second waits out Slack's one post a second there).
    calls = slack.wait_for("chat.postMessage", count=2, include_failed=False, timeout=10)
    announced = [body_of(c)["text"] for c in calls]
    assert [a.split(":")[0] for a in announced] == [
        f"dev is away through {last_day:%a %d %b %Y} (dentist)",
        "dev is back",
    ]
    assert slack.errors == []


def test_away_from_the_home_tab_with_a_day_past_is_refused_there_and_changes_nothing(bot, slack, plan_store):
    modal = open_away_modal(bot, slack)
    submit_away(bot, modal, AGENT, "2020-01-01", "")
    refused = view_of(slack.wait_for("views.publish")[-1])
    assert "--until 2020-01-01 is in the past" in texts(refused["blocks"])
    assert buttons(refused)["Away…"] == ["SF-1|dev"]  # still present


def test_a_strangers_away_click_is_refused_before_any_modal(bot, slack, plan_store):
    home_click(bot, "home_away", "SF-1|dev", user=STRANGER)
    published = view_of(slack.wait_for("views.publish")[0])
    assert "only a lead of SF-1 may mark another agent away" in texts(published["blocks"])
    assert slack.calls_to("views.open") == []


def test_an_agents_home_shows_todays_pending_sync_and_its_answer_button_opens_the_form(bot, slack, plan_store):
    post_prompt(bot, slack)
    view = open_home(bot, slack, AGENT)
    assert "The *standup* of *SF-1* is waiting for your answer (as dev)" in texts(view["blocks"])
    [slot] = buttons(view)["Answer"]
    click = fixture("block_actions_home_button")["payload"]
    click["user"]["id"] = AGENT
    click["actions"][0].update(action_id="sync_answer", value=slot)
    click["trigger_id"] = slack.trigger_id()
    bot.interaction(click)
    form = view_of(slack.wait_for("views.open")[0])
    assert form["callback_id"] == "sync_answer_submit" and json.loads(form["private_metadata"])["agent"] == "dev"
    # Once answered, it is no longer waiting.
    bot.send_fixture("event_message_thread_reply", {PARENT_TS: slack.messages(CHANNEL)[0]["ts"]})
    slack.wait_for("chat.update", timeout=15)
    again = open_home(bot, slack, LEAD, count=2)  # the lead's Home: no pending answer of theirs
    assert "waiting for your answer" not in texts(again["blocks"])
    bot.send_fixture("event_app_home_opened_first_visit", {"U0AGENT001": AGENT, "Ev0HOME0002": "EvHomeAgain"})
    answered = view_of(slack.wait_for("views.publish", count=3)[-1])
    assert "waiting for your answer" not in texts(answered["blocks"]) and "Build it" in texts(answered["blocks"])


def test_a_lead_sees_the_plans_they_lead_with_their_controls(bot, slack):
    view = open_home(bot, slack, LEAD)
    assert "SF-1 · Surfaces" in texts(view["blocks"])
    assert buttons(view)["Pause"] == ["SF-1|build", "SF-1|check"] and buttons(view)["Refresh"] == ["SF-1"]
    assert "Start" not in buttons(view)  # the lead is no agent of the plan


def test_a_stranger_sees_how_to_join(bot, slack):
    view = open_home(bot, slack, STRANGER)
    shown = texts(view["blocks"])
    assert "You take part in no plan yet" in shown and f"`{STRANGER}`" in shown  # the id to give a lead
    assert "*SF-1* Surfaces — ask <@U0LEAD0001>" in shown
    assert buttons(view) == {}


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


def test_a_standup_of_120_half_by_thread_half_by_modal_is_stored_shown_whole_and_the_silent_reminded(tmp_path):
    """The issue's scale check, bounded for the suite (bench/sync_at_scale.py runs it at 600 with timings)."""
    from concurrent.futures import ThreadPoolExecutor

    from slack_sdk import WebClient

    from bot.blocks import render_body_dicts
    from bot.sync_post import remind
    from commands.core.context import Actor
    from commands.core.dispatch import Invocation

    agents, silent = 120, 10
    users = [f"U0S{n:07d}" for n in range(agents)]
    (tmp_path / "scale.yml").write_text(
        yaml.safe_dump(
            {
                "id": "SCALE-1",
                "timezone": "UTC",
                "channel": CHANNEL,
                "roles": {"leads": [LEAD]},
                # On the real clock: whatever the hour the test runs, its people are at work (quiet hours
                # would hold the reminders until the morning).
                "streams": [{"id": f"s{k}", "hours": "24/7"} for k in range(12)],
                "agents": {
                    f"a{n:03d}": {"stream": f"s{n % 12}", "slack-user": users[n], "tasks": [f"Work {n}", f"Then {n}"]}
                    for n in range(agents)
                },
            }
        )
    )
    url = f"sqlite:///{tmp_path / 'scale.db'}"
    engine = make_engine(url)
    upgrade(engine)
    execute(engine, ["plan", "load", str(tmp_path / "scale.yml")], OPERATOR)
    execute(engine, ["start", "SCALE-1"], OPERATOR)
    with FakeSlack(rate_limits=True) as slack:
        bot = ServeProcess(tmp_path, slack.url, url)
        try:
            bot.wait_healthy()
            ts = post_prompt(bot, slack)
            prompt = body_of(slack.calls_to("chat.postMessage")[0])
            slot = next(
                e["value"]
                for b in prompt["blocks"]
                if b["type"] == "actions"
                for e in b["elements"]
                if e["action_id"] == "sync_answer"
            )

            def by_thread(n: int) -> None:
                event = {
                    "type": "message",
                    "user": users[n],
                    "text": f"on Work {n}, no blocker",
                    "ts": f"{1800000000 + n}.000100",
                    "thread_ts": ts,
                    "channel": CHANNEL,
                    "channel_type": "channel",
                }
                assert bot.event(event, event_id=f"EvScale{n}")[0] == 200

            def by_modal(n: int) -> None:
                click = block_action("sync_answer", slot, slack.response_url(f"m{n}"), user=users[n], channel=CHANNEL)
                click["trigger_id"] = trigger = slack.trigger_id()
                bot.interaction(click)
                deadline = time.monotonic() + 20
                while not (opened := [c for c in slack.calls_to("views.open") if c.body.get("trigger_id") == trigger]):
                    assert time.monotonic() < deadline, f"no modal for {users[n]}: {slack.calls_to(f'response:m{n}')}"
                    time.sleep(0.1)
                view = view_of(opened[0])
                ticked = next(b for b in view["blocks"] if b.get("block_id") == "tasks_done")["element"]["options"][:1]
                values = {
                    "yesterday": {"value": {"type": "plain_text_input", "value": f"did {n}"}},
                    "today": {"value": {"type": "plain_text_input", "value": f"do {n}"}},
                    "blockers": {"value": {"type": "plain_text_input", "value": None}},
                    "tasks_done": {"value": {"type": "multi_static_select", "selected_options": ticked}},
                }
                submission = {"type": "view_submission", "team": {"id": "T0TEST"}, "api_app_id": "A0TEST"}
                submission["user"] = {"id": users[n], "username": users[n].lower(), "team_id": "T0TEST"}
                submission["view"] = {**view, "id": f"V{n}", "state": {"values": values}}
                assert bot.interaction(submission)[0] == 200

            answering = range(agents - silent)
            with ThreadPoolExecutor(max_workers=4) as senders:
                list(senders.map(lambda n: (by_thread if n % 2 else by_modal)(n), answering))

            # Every answer stored, and the prompt's last redraw counts them all.
            deadline = time.monotonic() + 60
            while f"{agents - silent}/{agents} answered" not in last_update_text(slack):
                assert time.monotonic() < deadline, "the prompt never showed every answer"
                time.sleep(0.5)
            with Session(engine) as session:
                stored = session.exec(select(SyncAnswer).where(SyncAnswer.answered_at.is_not(None))).all()
            assert len(stored) == agents - silent
            final = last_update_text(slack)
            assert f"*{agents} asked* · :white_check_mark: {agents - silent} answered · {silent} not yet" in final
            assert f"*Not yet* ({silent})\n" + ", ".join(f"<@{u}>" for u in users[agents - silent :]) in final
            # ... and its pages (Show more) show every answer, none as a Python list.
            lead = Invocation(actor=Actor(id=f"slack:{LEAD}", name="l", source="slack", slack_user=LEAD), front="slack")
            shown, page = final, last_update(slack)
            while more := more_of(page):
                answers = execute(engine, ["answers", "--slot", slot], lead, audited=False)
                page = render_body_dicts(answers.body, offset=more[0]["offset"])
                shown += texts(page)
            assert "['" not in shown
            for n in answering:
                assert (
                    f"on Work {n}, no blocker_" if n % 2 else f"yesterday: did {n}; today: do {n}; done: T"
                ) in shown
            # Nobody was told Slack was busy, no click's trigger expired, nothing refused for its limits.
            assert [c for c in slack.calls if c.method.startswith("response:m")] == []
            assert ("views.open", "expired_trigger_id") not in slack.refusals
        finally:
            bot.stop()
        # The reminders, sent now: one to each of the silent, and to nobody who answered.
        sent = remind(WebClient(token="xoxb-test", base_url=slack.url), engine, int(slot))
        reminders = [
            c.body["channel"] for c in slack.calls_to("chat.postMessage") if "Reminder" in str(c.body.get("text"))
        ]
        assert sent == silent and sorted(reminders) == users[agents - silent :]
    engine.dispose()


def last_update(slack) -> list[dict]:
    updates = [c for c in slack.calls_to("chat.update") if not c.failed]
    return body_of(updates[-1])["blocks"] if updates else []


def last_update_text(slack) -> str:
    return texts(last_update(slack))


def more_of(page: list[dict]) -> list[dict]:
    return [
        json.loads(e["value"])
        for b in page
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "page_more"
    ]


# --- 9. Big plans are whole in Slack ------------------------------------------------------------


def test_a_big_teams_prompt_names_who_has_not_answered_and_shows_all_answers_a_page_at_a_time(tmp_path):
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
        assert "*150 asked* · :white_check_mark: 0 answered · 150 not yet" in shown  # everyone, in numbers
        assert "*Not yet* (150)" in shown and all(f"<@U0A{n:07d}>" in shown for n in range(150))  # all asked, by name
        slot = posted.prompt_to_post
        show_all = next(
            e for b in first if b["type"] == "actions" for e in b["elements"] if e["text"]["text"] == "Show all"
        )
        page = json.loads(show_all["value"])
        assert (page["command"], page["slot"], page["offset"]) == ("answers", slot, 0)
        every = execute(engine, ["answers", "--slot", str(slot)], lead, audited=False)
        listed = render_body_dicts(every.body, offset=page["offset"])
        assert _block_errors(listed, MAX_MESSAGE_BLOCKS, "/blocks") == []
        assert (
            f"agents 1–100 of 150 · and 50 more: Show more, or `/orchestrate answers --slot {slot}` shows them all"
        ) in texts(listed)
        more = next(e for b in listed if b["type"] == "actions" for e in b["elements"] if e["action_id"] == "page_more")
        page = json.loads(more["value"])
        assert (page["command"], page["slot"], page["offset"]) == ("answers", slot, 100)
        second = texts(render_body_dicts(every.body, offset=page["offset"]))
        assert "<@U0A0000149>" in second and "<@U0A0000000>" not in second
        assert "agents 101–150 of 150" in second and "Show more" not in second
        # Long answers make fewer lines to a section, none cut: every answer is shown whole, on some page.
        from models.db.types import utcnow
        from models.rules.sync import record_posted

        record_posted(engine, posted.prompt_to_post, channel=CHANNEL, ts="1800000000.000100", now=utcnow())
        for n in range(150):
            said = f"finished part {n} of the migration; " + "then the long tail of fixes " * 8
            execute(engine, ["answer", "--slot", str(posted.prompt_to_post), "--agent", f"a{n:03d}", "--", said], lead)
        offset, seen = 0, []
        while offset is not None:
            page = render_body_dicts(
                execute(engine, ["answers", "--slot", str(posted.prompt_to_post)], lead).body, offset=offset
            )
            assert _block_errors(page, MAX_MESSAGE_BLOCKS, "/blocks") == []
            seen += re.findall(
                r"finished part (\d+) of the migration; (?:then the long tail of fixes ){8}", texts(page)
            )
            more = [
                json.loads(e["value"])
                for b in page
                if b["type"] == "actions"
                for e in b["elements"]
                if e["action_id"] == "page_more"
            ]
            offset = more[0]["offset"] if more else None
        assert sorted(map(int, seen)) == list(range(150))
    finally:
        engine.dispose()


# --- 1. Buttons in messages and in ephemeral messages answer there ------------------------------


def click(name: str, action_id: str, value: str, response_url: str, user: str = LEAD) -> dict:
    """A button click as Slack sends it from the container of fixture ``name`` (a channel message, an
    ephemeral one, a Grid install's), on the bot's button ``action_id`` carrying ``value``."""
    payload = fixture(name)["payload"]
    payload["user"]["id"] = user
    payload["response_url"] = response_url
    payload["actions"][0].update(action_id=action_id, value=value)
    return payload


def web_api_calls(slack) -> list[str]:
    """The Web API methods the bot called (not the response_urls, not its auth.test at start)."""
    return [c.method for c in slack.calls if not c.method.startswith("response:") and c.method != "auth.test"]


def test_a_button_in_an_ephemeral_message_replaces_that_ephemeral(bot, slack, plan_store):
    payload = click("block_actions_ephemeral_button", "dashboard_refresh", "SF-1", slack.response_url("eph"))
    assert "message" not in payload and payload["container"]["is_ephemeral"] is True
    status, _ = bot.interaction(payload)
    assert status == 200
    replaced = body_of(slack.wait_for("response:eph")[0])
    # Slack lets an app change an ephemeral message only through its response_url (there is no
    # message to chat.update): the dashboard replaces the one clicked.
    assert replaced["replace_original"] is True and "*build*" in texts(replaced["blocks"])
    assert web_api_calls(slack) == [] and slack.errors == []
    # A pause from the ephemeral dashboard: announced in the channel, and the ephemeral redrawn with Resume.
    bot.interaction(click("block_actions_ephemeral_button", "stream_pause", "SF-1|build", slack.response_url("p")))
    said, redrawn = (body_of(c) for c in slack.wait_for("response:p", count=2))
    assert said["response_type"] == "in_channel" and said["replace_original"] is False
    assert "Paused build" in said["text"]
    assert redrawn["replace_original"] is True and "Resume" in texts(redrawn["blocks"])
    assert stream_status(plan_store[1], "build") == "paused"


def test_a_refusal_in_an_ephemeral_message_reaches_the_clicker_and_leaves_it_as_it_was(bot, slack, plan_store):
    bot.interaction(
        click("block_actions_ephemeral_button", "stream_pause", "SF-1|build", slack.response_url("no"), user=STRANGER)
    )
    refusal = body_of(slack.wait_for("response:no")[0])
    assert refusal["response_type"] == "ephemeral" and refusal["replace_original"] is False
    assert "only a lead of SF-1 may pause a stream" in refusal["text"]
    assert stream_status(plan_store[1], "build") == "active"


@pytest.mark.parametrize("name", ["block_actions_message_button", "block_actions_ephemeral_button"])
def test_show_more_pages_in_the_message_it_was_clicked_in(bot, slack, name):
    more = json.dumps({"command": "status", "plan": "SF-1", "offset": 1})  # the dashboard from its second stream
    status, _ = bot.interaction(click(name, "page_more", more, slack.response_url("more")))
    assert status == 200
    page = body_of(slack.wait_for("response:more")[0])
    assert page["replace_original"] is True  # in place: the next page instead of the one clicked
    assert "*check*" in texts(page["blocks"]) and "*build*" not in texts(page["blocks"])
    assert web_api_calls(slack) == [] and slack.errors == []


def test_show_all_under_a_prompt_answers_the_clicker_and_leaves_the_prompt(bot, slack):
    post_prompt(bot, slack)
    prompt = body_of(slack.calls_to("chat.postMessage")[0])
    slot = next(e["value"] for b in prompt["blocks"] if b["type"] == "actions" for e in b["elements"])
    everyone = json.dumps({"command": "answers", "plan": "SF-1", "offset": 0, "slot": int(slot)})
    bot.interaction(click("block_actions_message_button", "page_more", everyone, slack.response_url("all")))
    shown = body_of(slack.wait_for("response:all")[0])
    assert shown["replace_original"] is False and shown["response_type"] == "ephemeral"
    assert "<@U0AGENT001>" in texts(shown["blocks"])
    assert slack.calls_to("chat.update") == []  # the prompt is as it was


# --- 4. A forced gate without a reason asks for it ---------------------------------------------


def test_a_leads_forced_gate_without_a_reason_opens_the_empty_reason_modal(bot, slack, plan_store):
    before = audit_commands(plan_store[1])
    bot.slash("validate --checkpoint cp-1 --force", slack.response_url("p5"), channel=CHANNEL)
    view = view_of(slack.wait_for("views.open")[0])
    assert view["title"]["text"] == "Force the gate"
    assert "passes the checkpoint with criteria unmet" in texts(view["blocks"])
    reason = next(b for b in view["blocks"] if b.get("block_id") == "reason")
    assert "initial_value" not in reason["element"]
    assert slack.calls_to("response:p5") == []  # no usage error: the modal asks
    assert audit_commands(plan_store[1]) == before  # nothing done until it is submitted


# --- 8. Enterprise Grid, org-wide installs, shared channels -----------------------------------


@pytest.fixture
def serve_as(tmp_path, slack, plan_store):
    """`serve --http` for a bot token whose auth.test answers as the fixture named (a Grid install)."""
    started: list[ServeProcess] = []

    def start(auth_fixture: str) -> ServeProcess:
        slack.auth = fixture(auth_fixture)["payload"]
        process = ServeProcess(tmp_path, slack.url, plan_store[0])
        started.append(process)
        process.wait_healthy()
        return process

    yield start
    for process in started:
        process.stop()


def nothing_done_for(bot, slack, engine, send, sentinel: str = "command_status") -> None:
    """``send()`` is answered 200 and nothing follows: no call to Slack, no audit entry, no error logged
    (checked once a status typed afterwards, as the ``sentinel`` fixture, is answered: anything ``send``
    set off would have arrived by then)."""
    before = audit_commands(engine)
    status, _ = send()
    assert status == 200
    send_slash(bot, sentinel, "status", slack.response_url("sentinel"))
    slack.wait_for("response:sentinel")
    time.sleep(0.3)
    assert web_api_calls(slack) == [] and audit_commands(engine) == [*before, "status"]  # the sentinel's only
    assert "Traceback" not in bot.output() and "ERROR" not in bot.output()


@pytest.mark.parametrize(
    ("auth", "command", "button"),
    [
        ("api_auth_test_enterprise", "command_status_enterprise", "block_actions_enterprise_workspace_install"),
        ("api_auth_test_org_install", "command_status_enterprise_org_install", "block_actions_enterprise_org_install"),
    ],
)
def test_a_grid_install_serves_its_own_enterprise(serve_as, slack, plan_store, auth, command, button):
    bot = serve_as(auth)
    # A slash command from a workspace of the org: answered to the person, as anywhere.
    status, _ = send_slash(bot, command, "status", slack.response_url("st"))
    assert status == 200
    shown = body_of(slack.wait_for("response:st")[0])
    assert shown["response_type"] == "ephemeral" and "*build*" in texts(shown["blocks"])
    # A button (an org-wide install's has "team": null; the workspace is only in user.team_id).
    payload = click(button, "stream_pause", "SF-1|build", slack.response_url("b"))
    assert bot.interaction(payload)[0] == 200
    said, redrawn = (body_of(c) for c in slack.wait_for("response:b", count=2))
    assert "Paused build" in said["text"] and redrawn["replace_original"] is True
    assert stream_status(plan_store[1], "build") == "paused"
    # The same command from another Grid org is refused, and says why.
    other = slash_fixture(command, "resume build", slack.response_url("x"))["payload"]
    status, body = bot.post(urlencode({**other, "enterprise_id": "E0OTHER"}), "application/x-www-form-urlencoded")
    assert (status, body) == (403, "this app serves another Slack workspace")
    assert stream_status(plan_store[1], "build") == "paused" and slack.calls_to("response:x") == []


@pytest.mark.parametrize(
    ("auth", "event", "command"),
    [
        ("api_auth_test_enterprise", "event_enterprise_grid", "command_status_enterprise"),
        ("api_auth_test_org_install", "event_enterprise_org_install", "command_status_enterprise_org_install"),
    ],
)
def test_a_grid_installs_channel_message_is_taken_and_left_alone(serve_as, slack, plan_store, auth, event, command):
    """A lead's message in the plan's channel (not in a prompt's thread) is no answer: 200, nothing else.
    A 403 here would be an error to Slack, which retries it and, past a failure rate, turns events off."""
    bot = serve_as(auth)
    nothing_done_for(bot, slack, plan_store[1], lambda: bot.send_fixture(event), sentinel=command)


def test_a_message_from_a_partner_org_in_a_shared_channel_is_taken_and_left_alone(bot, slack, plan_store):
    """Slack Connect: the event's team_id is the partner's, the authorization is ours (bolt reads that)."""
    nothing_done_for(bot, slack, plan_store[1], lambda: bot.send_fixture("event_shared_channel"))


def test_a_partners_slash_command_in_a_shared_channel_is_refused_and_changes_nothing(bot, slack, plan_store):
    """A command run from the partner's own install (its team_id) is not ours to serve: refused, as
    any other workspace's (test_security_limits), with nothing said to its response_url."""
    before = audit_commands(plan_store[1])
    payload = slash_fixture("command_status_shared", "pause build --plan SF-1", slack.response_url("sh"), "U0PARTNER1")
    status, body = bot.post(urlencode(payload["payload"]), "application/x-www-form-urlencoded")
    assert (status, body) == (403, "this app serves another Slack workspace")
    time.sleep(0.3)
    assert slack.calls_to("response:sh") == [] and stream_status(plan_store[1], "build") == "active"
    assert audit_commands(plan_store[1]) == before


# --- 8. Events and payloads the bot takes and leaves alone ---------------------------------------


def test_a_deleted_thread_parent_leaves_its_answers_as_they_are(bot, slack, plan_store):
    """Deleting a message with replies makes it a tombstone (message_changed by USLACKBOT): the prompt's
    tombstone is no edit of an answer, and the answers stay."""
    ts = post_prompt(bot, slack)
    bot.send_fixture("event_message_thread_reply", {PARENT_TS: ts})
    slack.wait_for("chat.update", timeout=15)
    slack.reset()
    tombstone = {"1717000900.000100": ts}  # the deleted parent is the prompt
    nothing_done_for(bot, slack, plan_store[1], lambda: bot.send_fixture("event_message_changed_tombstone", tombstone))
    assert answer_of(plan_store[1]).answer["reply"] == "T1 done, PR merged"


@pytest.mark.parametrize("name", ["event_message_channel_join", "event_app_home_opened_messages_tab", "view_closed"])
def test_a_payload_with_nothing_to_do_is_answered_200_and_does_nothing(bot, slack, plan_store, name):
    """The bot invited to the channel, its Messages tab opened (no Home to draw), a modal cancelled."""
    nothing_done_for(bot, slack, plan_store[1], lambda: bot.send_fixture(name))
