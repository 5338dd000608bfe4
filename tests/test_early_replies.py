"""A reply in a prompt's thread that comes before the prompt's ts is recorded is kept, and recorded as the
answer once it is (issue 15, item 6).

A real `serve` and the Slack stand-in: the answer to the prompt's post is lost (Slack has the prompt, the
bot does not know its ts), the agent replies in its thread at once, and the bot finds its prompt in the
channel (one conversations.history look, once a post sent then has surely landed).
"""

import time

import pytest
import yaml
from sqlmodel import Session, select

from commands.core.dispatch import execute
from models.db.store import make_engine, upgrade
from models.db.tables import SyncAnswer, SyncSlot
from tests.serve_process import ServeProcess, wait_for
from tests.slack_app import OPERATOR

CHANNEL, LEAD, DEV = "C0EARLY01", "U0LEAD0001", "U0DEV0001"


def plan_file(path) -> None:
    path.write_text(
        yaml.safe_dump(
            {
                "id": "ER-1",
                "timezone": "UTC",
                "channel": CHANNEL,
                "working-days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                "working-hours": ["00:00", "23:59"],
                "roles": {"leads": [LEAD]},
                "streams": [{"id": "build"}],
                "agents": {"dev": {"stream": "build", "slack-user": DEV, "tasks": ["Build it"]}},
            }
        )
    )


def answers(engine) -> list[tuple[str, dict | None]]:
    with Session(engine) as session:
        rows = session.exec(select(SyncSlot.status, SyncAnswer.answer).join(SyncAnswer)).all()
        return [(status, answer) for status, answer in rows]


def test_a_reply_before_its_prompt_is_recorded_becomes_the_answer_once_it_is(tmp_path, slack):
    plan_file(tmp_path / "er.yml")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    execute(engine, ["plan", "load", str(tmp_path / "er.yml")], OPERATOR)
    execute(engine, ["start", "ER-1"], OPERATOR)
    server = ServeProcess(tmp_path, slack.url, url)
    try:
        server.wait_healthy()
        slack.lose_answer_next("chat.postMessage")  # Slack takes the prompt; its answer never comes back
        server.slash("sync --type standup", slack.response_url("sync"), user=LEAD, channel=CHANNEL, channel_name="er")
        [prompt] = wait_for(lambda: slack.messages(CHANNEL), 20, "the prompt landing in the channel")
        reply = {
            "type": "message",
            "channel": CHANNEL,
            "user": DEV,
            "text": "finished the build, shipping next",
            "ts": f"{float(prompt['ts']) + 1:.6f}",
            "thread_ts": prompt["ts"],
        }
        status, _ = server.event(reply, event_id="Ev0EARLY1")
        assert status == 200
        time.sleep(1)
        assert [s for s, _ in answers(engine)] == ["claimed"]  # the prompt is not recorded yet
        recorded = wait_for(
            lambda: [a for s, a in answers(engine) if s == "posted" and a],
            60,
            "the prompt being found and the kept reply recorded",
        )
        update = wait_for(lambda: slack.calls_to("chat.update"), 15, "the prompt redrawn with the answer")
    finally:
        server.stop()
    assert recorded[0]["reply"] == "finished the build, shipping next"
    assert update[-1].body["ts"] == prompt["ts"]
    assert "finished the build" in str(update[-1].body["blocks"])
    assert len(slack.messages(CHANNEL)) == 1  # the prompt was found, not posted again


def test_a_request_refused_as_not_addressed_leaves_no_record_and_counts_when_it_is(started, engine):
    """The record of a request is written in its command's transaction: a reply in a thread no prompt has
    yet is not "handled", so the same request, run once the prompt is recorded, is."""
    from commands.core.context import Actor
    from commands.core.dispatch import Invocation
    from commands.core.errors import Unaddressed
    from models.db.tables import ProcessedEvent

    how = Invocation(actor=Actor(id="slack:U0X", name="x", source="slack", slack_user="U0X"), request_id="Ev0REC1")
    with pytest.raises(Unaddressed):  # no prompt has that thread
        execute(engine, ["answer", "--thread", "C0NOPE:1.000001", "--", "done"], how)
    with Session(engine) as session:
        assert session.exec(select(ProcessedEvent)).all() == []
    execute(engine, ["heartbeat", "agent-a1"], how.__class__(actor=OPERATOR.actor, request_id="Ev0REC1"))
    with Session(engine) as session:
        assert [e.event_id for e in session.exec(select(ProcessedEvent))] == ["Ev0REC1"]
