"""In real time: two `serve` processes on one store, a sync a minute ahead, one prompt, answers shown."""

import json
import time
from datetime import UTC, datetime, timedelta

import yaml
from sqlmodel import Session, select

from commands.core.dispatch import execute
from models.db.store import make_engine, upgrade
from models.db.tables import SyncAnswer, SyncSlot, Task
from tests.serve_process import ServeProcess, block_action
from tests.slack_app import OPERATOR

CHANNEL = "C0RTCHAN1"


def plan_file(path, at: datetime) -> None:
    path.write_text(
        yaml.safe_dump(
            {
                "id": "RT-1",
                "timezone": "UTC",
                "channel": CHANNEL,
                "working-days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                "working-hours": ["00:00", "23:59"],
                "roles": {"leads": ["U0LEAD0001"]},
                "streams": [{"id": "build"}],
                "agents": {"dev": {"stream": "build", "slack-user": "U0DEV0001", "tasks": ["Build it", "Ship it"]}},
                "sync-schedule": [
                    {"time": f"{at:%H:%M}", "type": "standup", "duration": "15min", "required": ["all-agents"]}
                ],
            }
        )
    )


def view_of(call) -> dict:
    view = call.body["view"]
    return view if isinstance(view, dict) else json.loads(view)


def test_two_processes_post_one_prompt_and_show_the_answers(tmp_path, slack):
    now = datetime.now(UTC)
    fire = (now + timedelta(minutes=1)).replace(second=0, microsecond=0)
    # Leave both processes time to start (about 4 s); one starting late still posts the prompt at
    # start-up (a sync missed by less than its duration), once.
    if fire - now < timedelta(seconds=10):
        fire += timedelta(minutes=1)
    plan_file(tmp_path / "rt.yml", fire)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    execute(engine, ["plan", "load", str(tmp_path / "rt.yml")], OPERATOR)
    execute(engine, ["start", "RT-1"], OPERATOR)

    first, second = ServeProcess(tmp_path, slack.url, url), ServeProcess(tmp_path, slack.url, url)
    try:
        first.wait_healthy()
        second.wait_healthy()
        wait = (fire - datetime.now(UTC)).total_seconds() + 30
        prompt = slack.wait_for("chat.postMessage", timeout=wait)[0]
        time.sleep(3)  # the other process fired at the same minute: give it time to (not) post
        assert [c.body["text"] for c in slack.calls_to("chat.postMessage")] == ["Sync: standup (RT-1)"]
        assert prompt.body["channel"] == CHANNEL
        blocks = prompt.body["blocks"] if isinstance(prompt.body["blocks"], list) else json.loads(prompt.body["blocks"])
        slot_id = next(e["value"] for b in blocks if b["type"] == "actions" for e in b["elements"])

        # The agent presses Answer (on one process), fills the modal, submits (on the other).
        first.interaction(
            block_action("sync_answer", slot_id, slack.response_url("a1"), user="U0DEV0001", channel=CHANNEL)
        )
        modal = view_of(slack.wait_for("views.open")[0])
        assert modal["callback_id"] == "sync_answer_submit"
        assert [b["block_id"] for b in modal["blocks"]] == [
            "yesterday",
            "today",
            "blockers",
            "tasks_done",
            "blocked_task",
        ]
        state = {
            "yesterday": {"value": {"type": "plain_text_input", "value": "Set up the repo"}},
            "today": {"value": {"type": "plain_text_input", "value": "Build it"}},
            "blockers": {"value": {"type": "plain_text_input", "value": ""}},
            "tasks_done": {"value": {"type": "multi_static_select", "selected_options": [{"value": "T1"}]}},
            "blocked_task": {"value": {"type": "static_select", "selected_option": None}},
        }
        second.interaction(
            {
                "type": "view_submission",
                "team": {"id": "T0TEST"},
                "api_app_id": "A0TEST",
                "user": {"id": "U0DEV0001", "username": "dev"},
                "view": {**modal, "id": "V1", "state": {"values": state}},
            }
        )
        with Session(engine) as session:
            posted_ts = session.exec(select(SyncSlot.message_ts)).one()  # where the prompt was posted
        updated = slack.wait_for("chat.update", timeout=10)[0].body
        shown = json.dumps(updated["blocks"], ensure_ascii=False)
        assert (updated["channel"], updated["ts"]) == (CHANNEL, posted_ts) and "1/1 answered" in shown
        assert "yesterday: Set up the repo; today: Build it" in shown

        # A reply in the thread counts too; Slack's retry of the same event acts once.
        reply = {
            "type": "message",
            "channel": CHANNEL,
            "user": "U0DEV0001",
            "text": "Shipping after lunch",
            "ts": "1800000000.000200",
            "thread_ts": posted_ts,
        }
        first.event(reply, event_id="EvReply1")
        second.event(reply, event_id="EvReply1", retry_num=1)
        slack.wait_for("chat.update", count=2, timeout=10)
        time.sleep(2)
        assert len(slack.calls_to("chat.update")) == 2
        assert "_Shipping after lunch_" in json.dumps(slack.calls_to("chat.update")[1].body["blocks"])
    finally:
        first.stop()
        second.stop()
    with Session(engine) as session:
        assert session.exec(select(Task.status).where(Task.key == "T1")).one() == "done"
        answers = session.exec(select(SyncAnswer)).all()
        assert len(answers) == 1 and answers[0].answer == {
            "reply": "Shipping after lunch",
            "message_ts": "1800000000.000200",
        }
    assert slack.errors == []
    for process in (first, second):
        assert "Traceback" not in process.output(), process.output()


def test_a_starting_process_answers_at_once_while_its_catch_up_waits_on_slack(tmp_path, slack):
    # A standup that fired a minute ago is still open (15 minutes): the process posts it at start-up.
    # Slack answers that post with 429 and Retry-After: 20, and the client waits as Slack asks.
    fire = (datetime.now(UTC) - timedelta(minutes=1)).replace(second=0, microsecond=0)
    plan_file(tmp_path / "rt.yml", fire)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    execute(engine, ["plan", "load", str(tmp_path / "rt.yml")], OPERATOR)
    execute(engine, ["start", "RT-1"], OPERATOR)
    slack.fail_next("chat.postMessage", status=429, retry_after=20)

    process = ServeProcess(tmp_path, slack.url, url)
    try:
        process.wait_healthy()  # Slack's acks and /healthz do not wait for the catch-up...
        assert slack.calls_to("chat.postMessage", include_failed=False) == [], process.output()
        posted = slack.wait_for("chat.postMessage", count=2, timeout=60)  # ...which still posts, once
        assert [c.body["text"] for c in posted] == ["Sync: standup (RT-1)"] * 2  # the 429, then the post
        assert len(slack.calls_to("chat.postMessage", include_failed=False)) == 1
    finally:
        process.stop()
        engine.dispose()
