"""Blockers followed across days (issue 20), on a fake clock, the scheduler's tick and delivery run by hand.

The example plan starts on Monday 5 January 2026, 09:00 Paris, with agent-c2 answering its standups from Slack
(U0AGENTC2). On Tuesday (day 2) it names a blocker in its standup answer; on Wednesday (day 3) it is
reminded of it in a direct message; on Thursday (day 4), two working days on (the default
`blocker-escalation-days`), the leads are told; on Friday its task T21 is done and the blocker closes.
"""

import json
from urllib.parse import quote

import pytest
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient

from bot import scheduler
from bot.app import build_app
from bot.blocks import render
from bot.text import render as text_render
from commands.core.context import Actor
from commands.core.errors import CommandError, PermissionDenied
from tests.clock import paris
from tests.conftest import EXAMPLE_PLAN, LEAD, STRANGER, Runner
from tests.fake_slack import FakeSlack
from tests.serve_process import fixture

C2 = Actor(id="slack:U0AGENTC2", name="c2", source="slack", slack_user="U0AGENTC2")
C2_DM, LEAD_DM = "DU0AGENTC2", "DU0LEAD0001"  # FakeSlack's direct-message channels (conversations.open)


def plan_file(folder, extra: str = "") -> str:
    text = EXAMPLE_PLAN.read_text()
    anchor = "    skills: [Docker, Kubernetes, GitHub Actions, Monitoring]\n"
    assert text.count(anchor) == 1
    path = folder / "TR-ORCH-001.yml"
    path.write_text(text.replace(anchor, anchor + "    slack-user: U0AGENTC2\n") + extra)
    return str(path)


@pytest.fixture
def world(tmp_path, engine):
    """The plan started in a fresh store (SQLite and PostgreSQL), Slack a FakeSlack."""
    with FakeSlack() as slack:
        run = Runner(engine, paris(5, 9))
        run(f"plan load {plan_file(tmp_path)}")
        run("start TR-ORCH-001")
        run("task start T21")
        scheduler.use(engine, WebClient(token="xoxb-test", base_url=slack.url), clock=lambda: run.now)
        yield run, slack
        scheduler._runtime = None


def at(run, when) -> None:
    """The clock at ``when``, then the scheduler's tick and the alert worker, as `serve` runs them."""
    run.at(when)
    scheduler.tick()
    scheduler.deliver()


def standup(run, day: int) -> None:
    run.at(paris(day, 9))
    scheduler.run_slot("TR-ORCH-001", "standup")


def dms(slack, channel: str) -> list[dict]:
    """What the bot posted in a direct message (by the user's id, which Slack posts in the app's DM, or the DM)."""
    users = {C2_DM: "U0AGENTC2", LEAD_DM: "U0LEAD0001"}
    return [
        c.body
        for c in slack.calls_to("chat.postMessage", include_failed=False)
        if c.body["channel"] in (channel, users[channel])
    ]


def blocks_of(body: dict) -> list:
    blocks = body.get("blocks") or []
    return json.loads(blocks) if isinstance(blocks, str) else blocks


def test_a_blocker_named_on_day_2_is_reminded_on_day_3_escalated_on_day_4_and_closed_when_its_task_is_done(world):
    run, slack = world
    standup(run, 6)
    run.at(paris(6, 9, 20))
    reply = run('answer --field today="pipeline" --field blockers="waiting on the staging cluster quota"', actor=C2)
    assert reply.body.details == [
        "T21 'CI/CD pipeline' is now blocked (waiting on the staging cluster quota).",
        "Blocker B1 on T21 noted: you will be reminded each working day it stays open, and the leads told after "
        "2 working days; `blockers close B1` (or Resolved) closes it.",
    ]
    at(run, paris(6, 17))  # the rest of day 2: no reminder on the day it was named
    assert dms(slack, C2_DM) == []
    assert run("blockers").body.rows == [
        ["B1", "agent-c2", "T21", "waiting on the staging cluster quota", "Tue 06 Jan", "0 working days", "open"]
    ]

    at(run, paris(7, 9))  # day 3 opens: the owner is reminded, once
    at(run, paris(7, 10))
    [reminder] = dms(slack, C2_DM)
    assert reminder["text"] == (
        "[info] TR-ORCH-001: Your blocker B1 (agent-c2) on T21 'CI/CD pipeline', named Tue 06 Jan: “waiting on the "
        "staging cluster quota” is still open, 1 working day on. Press Resolved once it is; it goes to the leads in "
        "1 working day."
    )
    # A sentence of three lines, not a heading: plain under the bold INFO.
    assert blocks_of(reminder)[0]["text"]["text"] == (
        ":information_source: *INFO* · TR-ORCH-001\nYour blocker B1 (agent-c2) on T21 'CI/CD pipeline', named Tue 06"
        " Jan: “waiting on the staging cluster quota” is still open, 1 working day on. Press Resolved once it is; it"
        " goes to the leads in 1 working day."
    )
    buttons = [e for b in blocks_of(reminder) for e in b.get("elements", []) if e.get("type") == "button"]
    assert [(b["action_id"], b["value"]) for b in buttons] == [("blocker_close", "TR-ORCH-001|B1")]
    assert [m for m in dms(slack, LEAD_DM) if "Blocker B1" in m["text"]] == []  # not yet for the leads

    at(run, paris(8, 9))  # day 4: reminded again, and the leads are told
    assert len(dms(slack, C2_DM)) == 2
    [escalation] = [m for m in dms(slack, LEAD_DM) if "Blocker B1" in m["text"]]
    assert escalation["text"] == (
        "[warning] TR-ORCH-001: Blocker B1 (agent-c2) on T21 'CI/CD pipeline', named Tue 06 Jan: “waiting on the "
        "staging cluster quota” has been open 2 working days: its owner was reminded each day. `blockers` lists "
        "the open ones."
    )
    assert run("blockers").body.rows[0][5:] == ["2 working days", "open, told to the leads"]
    board = run("status")
    assert [(b.key, b.owner, b.task, b.age_days) for b in board.body.blockers] == [("B1", "agent-c2", "T21", 2)]
    assert "│ B1 · 2 working days · leads told · agent-c2 on T21: waiting on … │" in text_render(board)
    assert "*B1* agent-c2 on T21" in json.dumps(render(board))
    at(run, paris(8, 15))  # told once
    assert len([m for m in dms(slack, LEAD_DM) if "Blocker B1" in m["text"]]) == 1

    at(run, paris(9, 9))  # day 5: reminded again; the leads were told already
    assert len(dms(slack, C2_DM)) == 3
    assert len([m for m in dms(slack, LEAD_DM) if "Blocker B1" in m["text"]]) == 1
    run.at(paris(9, 10))
    run("task done T21")  # its task moves on: the blocker is over
    assert run("blockers").body.rows == []
    assert run("blockers list --all").body.rows[0][6] == "closed: T21 is done"
    at(run, paris(12, 9))  # closed: nothing more on Monday
    assert len(dms(slack, C2_DM)) == 3
    assert slack.errors == []


def test_a_task_named_in_the_text_is_the_one_held_up_and_the_owner_closes_it_with_the_button(world):
    run, slack = world
    standup(run, 6)
    run.at(paris(6, 9, 30))
    reply = run('answer "still blocked until T8 is merged"', actor=C2)
    assert "Blocker B1 on T8 noted" in reply.body.details[-1]
    # The same blocker named again the next day is the one already open.
    standup(run, 7)
    run.at(paris(7, 9, 30))
    assert run('answer "blocked: T8 is not merged yet"', actor=C2).body.details[-1] == (
        "Blocker B1 on T8 is still open: noted again."
    )
    with pytest.raises(PermissionDenied):
        run("blockers close B1", actor=STRANGER)
    with pytest.raises(CommandError, match="no blocker 'B9' in TR-ORCH-001"):
        run("blockers close B9", actor=C2)
    closed = run("blockers close B1 --reason 'merged by hand'", actor=C2)
    assert closed.body.text == "Closed blocker B1 of agent-c2: “blocked: T8 is not merged yet”."
    assert render(closed, actor_user="U0AGENTC2")  # what Slack shows renders
    with pytest.raises(CommandError, match="B1 was closed already"):
        run("blockers close B1", actor=LEAD)
    at(run, paris(8, 9))
    assert dms(slack, C2_DM) == []  # closed: no reminder


def test_the_escalation_days_are_a_plan_setting_checked_at_load(tmp_path, engine):
    run = Runner(engine, paris(5, 9))
    zero = plan_file(tmp_path, "blocker-escalation-days: 0\n")
    with pytest.raises(CommandError, match="blocker-escalation-days") as refused:
        run(f"plan load {zero}")
    assert "greater than or equal to 1" in str(refused.value)
    run(f"plan load {plan_file(tmp_path, 'blocker-escalation-days: 3' + chr(10))}")
    run("start TR-ORCH-001")
    run("task start T21")
    with FakeSlack() as slack:
        scheduler.use(engine, WebClient(token="xoxb-test", base_url=slack.url), clock=lambda: run.now)
        try:
            standup(run, 6)
            run.at(paris(6, 9, 20))
            reply = run('answer --field blockers="quota"', actor=C2)
            assert "the leads told after 3 working days" in reply.body.details[-1]
            at(run, paris(8, 9))  # two working days on: not yet
            assert [m for m in dms(slack, LEAD_DM) if "Blocker B1" in m["text"]] == []
            at(run, paris(9, 9))  # three
            assert len([m for m in dms(slack, LEAD_DM) if "Blocker B1" in m["text"]]) == 1
        finally:
            scheduler._runtime = None


def test_a_task_picked_in_the_answer_form_alone_is_a_blocker_on_that_task(world):
    """The Answer form's "Blocked on" select, with nothing written in its blockers field."""
    run, _ = world
    standup(run, 6)
    run.at(paris(6, 9, 30))
    reply = run('answer --field today="deploy scripts" --blocked T22', actor=C2)
    assert "Blocker B1 on T22 noted" in reply.body.details[-1]
    assert run("blockers", actor=LEAD).body.rows[0][:3] == ["B1", "agent-c2", "T22"]


# --- the Resolved button, clicked through the real Bolt app -------------------------------------------------


def bolt_app(engine, slack):
    """The Bolt app `serve` runs (bot.app.build_app), in this process: requests dispatched as bot/http.py does."""
    return build_app(engine, token="xoxb-test", api_url=slack.url, verify_token=False)


def click_resolved(app, slack, reminder: dict, user: str, username: str, name: str) -> dict:
    """The owner's (or someone's) click on the reminder's Resolved button, as Slack sends it; what the bot answers.

    The body is tests/slack_payloads/block_actions_message_button.json (its `_source`: bolt-python
    tests/scenario_tests/test_block_actions_respond.py and java-slack-sdk BlockActionPayloadTest.java, a button in
    a bot's message), moved into the app's direct message as Slack names it (`directmessage`, as in
    command_status_dm.json), with the reminder as the message and its button as the action.
    """
    payload = fixture("block_actions_message_button")["payload"]
    [button] = [e for b in blocks_of(reminder) for e in b.get("elements", []) if e.get("type") == "button"]
    payload["user"].update(id=user, username=username, name=username)
    payload["channel"] = {"id": C2_DM, "name": "directmessage"}
    payload["container"].update(channel_id=C2_DM, message_ts="1767772800.000100")
    payload["message"].update(text=reminder["text"], blocks=blocks_of(reminder), ts="1767772800.000100")
    payload["response_url"] = slack.response_url(name)
    payload["actions"] = [
        {
            "action_id": button["action_id"],
            "block_id": "blocker",
            "text": button["text"],
            "value": button["value"],
            "type": "button",
            "action_ts": "1767772900.102030",
        }
    ]
    response = app.dispatch(
        BoltRequest(
            body="payload=" + quote(json.dumps(payload)),
            headers={"content-type": ["application/x-www-form-urlencoded"]},
        )
    )
    assert response.status == 200  # acked at once; the work follows
    [answer] = slack.wait_for(f"response:{name}", timeout=10)
    return answer.body


def reminded(run, slack) -> dict:
    standup(run, 6)
    run.at(paris(6, 9, 20))
    run('answer --field blockers="waiting on the staging cluster quota"', actor=C2)
    at(run, paris(7, 9))
    [reminder] = dms(slack, C2_DM)
    return reminder


def test_the_owner_presses_resolved_on_the_reminder_and_the_blocker_is_closed(world, engine):
    run, slack = world
    reminder = reminded(run, slack)
    answer = click_resolved(bolt_app(engine, slack), slack, reminder, "U0AGENTC2", "c2", "resolved")
    # What the owner sees in place of the reminder: it is closed, and no button is left to press again.
    assert answer["replace_original"] is True
    shown = answer["text"] + json.dumps(blocks_of(answer))
    assert "Closed blocker B1 of agent-c2: “waiting on the staging cluster quota”." in shown
    assert [e for b in blocks_of(answer) for e in b.get("elements", []) if e.get("type") == "button"] == []
    assert run("blockers list --all").body.rows[0][0::6] == ["B1", "closed: closed by c2"]
    # The leads read it in the plan's channel.
    [announced] = [c.body for c in slack.calls_to("chat.postMessage") if "Closed blocker B1" in c.body["text"]]
    assert announced["channel"] == "#tr-orchestration"
    assert run("blockers").body.rows == []
    at(run, paris(8, 9))  # closed: no more reminders, nothing to the leads
    assert len(dms(slack, C2_DM)) == 1
    assert [m for m in dms(slack, LEAD_DM) if "Blocker B1" in m["text"]] == []
    assert slack.errors == []


def test_a_strangers_resolved_is_refused_and_the_blocker_stays_open(world, engine):
    run, slack = world
    reminder = reminded(run, slack)
    answer = click_resolved(bolt_app(engine, slack), slack, reminder, "U0NOBODY01", "stranger", "stranger")
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is False
    assert answer["text"] == ":no_entry: only a lead of TR-ORCH-001 may close agent-c2's blocker; leads: <@U0LEAD0001>"
    assert run("blockers").body.rows[0][0::6] == ["B1", "open"]
    assert [c for c in slack.calls_to("chat.postMessage") if "Closed blocker" in c.body["text"]] == []
    at(run, paris(8, 9))  # still open: reminded again, and the leads told
    assert len(dms(slack, C2_DM)) == 2
    assert slack.errors == []
