"""Acks within Slack's 3 seconds under load, and the Acknowledge / Resolve buttons of critical alerts.

Over real sockets: `serve` in HTTP mode, the local stand-in for Slack, signed requests.
"""

import json
import threading
import time

from sqlmodel import Session, select

from models.db.tables import Alert, AuditEntry, Plan, Stream
from tests.serve_process import block_action
from tests.slack_app import body_of, buttons, texts

SLACK_ACK_LIMIT = 3.0  # seconds: Slack's own contract for the HTTP answer
CONCURRENT = 30


def test_concurrent_commands_are_all_acked_within_3_seconds_and_all_answered(server, slack):
    start = threading.Barrier(CONCURRENT)
    results: dict[int, tuple[int, str, float]] = {}

    def send(i: int) -> None:
        start.wait()
        began = time.monotonic()
        status, body = server.slash("status", slack.response_url(f"load{i}"))
        results[i] = (status, body, time.monotonic() - began)

    senders = [threading.Thread(target=send, args=(i,)) for i in range(CONCURRENT)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(timeout=30)
    assert sorted(results) == list(range(CONCURRENT))
    for i, (status, body, took) in sorted(results.items()):
        assert status == 200 and body == "", (i, status, body)
        assert took < SLACK_ACK_LIMIT, f"command {i} was acked after {took:.2f} s"
    for i in range(CONCURRENT):  # the work came after the acks, and every command was answered
        answer = body_of(slack.wait_for(f"response:load{i}", timeout=60)[0])
        assert answer["response_type"] == "ephemeral"
        assert "TR-ORCH-001 · Restaurant Ticket Feature" in texts(answer["blocks"])
    assert slack.errors == []
    assert "Traceback" not in server.output()


def test_a_modal_without_a_reason_is_refused_in_the_ack_and_nothing_runs(server, slack, store):
    server.slash('stop --emergency --reason "Critical issue found"', slack.response_url("e1"))
    opened = slack.wait_for("views.open")[0].body
    view = opened["view"] if isinstance(opened["view"], dict) else json.loads(opened["view"])
    submission = {
        "type": "view_submission",
        "team": {"id": "T0TEST"},
        "api_app_id": "A0TEST",
        "user": {"id": "U0LEAD0001", "username": "lead"},
        "view": {
            **view,
            "id": "V1",
            "state": {"values": {"reason": {"value": {"type": "plain_text_input", "value": "   "}}}},
        },
    }
    status, body = server.interaction(submission)
    assert status == 200
    assert json.loads(body) == {
        "response_action": "errors",
        "errors": {"reason": "Say why: it is recorded with your name."},
    }
    time.sleep(0.5)
    assert slack.calls_to("response:e1") == []
    with Session(store[1]) as session:
        assert list(session.exec(select(Stream.status))) == ["active"] * 3


# --- alert buttons ---------------------------------------------------------------------------


def add_alert(engine, text: str = "Stream stream-b-frontend is 3 days late") -> int:
    with Session(engine) as session:
        plan = session.exec(select(Plan).where(Plan.key == "TR-ORCH-001")).one()
        alert = Alert(plan_id=plan.id, event_name="stream-delayed", level="critical", text=text)
        session.add(alert)
        session.commit()
        return alert.id


def alert_message(alert_id: int, text: str) -> dict:
    """The message as the delivery posts it: the alert, its number and state, the two buttons."""
    return {
        "type": "message",
        "ts": "1.2",
        "text": f"[critical] TR-ORCH-001: {text}",
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"<!here> :rotating_light: *CRITICAL* · TR-ORCH-001\n{text}"},
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"alert #{alert_id} · open"}]},
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Acknowledge"},
                        "action_id": "alert_ack",
                        "value": str(alert_id),
                        "style": "primary",
                    },
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Resolve"},
                        "action_id": "alert_resolve",
                        "value": str(alert_id),
                    },
                ],
            },
        ],
    }


def click(server, action_id: str, alert_id: int, response_url: str, message: dict, user: str = "U0LEAD0001"):
    payload = block_action(action_id, str(alert_id), response_url, user=user)
    payload["message"] = message
    return server.interaction(payload)


def alert_row(engine, alert_id: int) -> Alert:
    with Session(engine) as session:
        return session.get(Alert, alert_id)


def test_the_acknowledge_button_acknowledges_as_the_clicker_and_replaces_the_message(server, slack, store):
    text = "Stream stream-b-frontend is 3 days late"
    alert_id = add_alert(store[1], text)
    started = time.monotonic()
    status, body = click(server, "alert_ack", alert_id, slack.response_url("a1"), alert_message(alert_id, text))
    assert status == 200 and body == "" and time.monotonic() - started < SLACK_ACK_LIMIT

    replaced = body_of(slack.wait_for("response:a1", timeout=10)[0])
    assert replaced["replace_original"] is True
    shown = texts(replaced["blocks"])
    assert text in shown and "*CRITICAL* · TR-ORCH-001" in shown
    assert "Acknowledged by <@U0LEAD0001> at " in shown and " UTC" in shown
    assert "<!here>" not in shown  # the edit does not ping the channel again
    assert buttons(replaced["blocks"]) == ["alert_resolve"]  # Resolve stays after an acknowledgement

    alert = alert_row(store[1], alert_id)
    assert (alert.status, alert.acked_by) == ("acknowledged", "slack:U0LEAD0001")
    with Session(store[1]) as session:
        entry = session.exec(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    # Alert numbers are unique across plans: the button runs `ack N`, and the entry names the alert's plan.
    assert (entry.command, entry.plan_key, entry.actor, entry.outcome, entry.source) == (
        f"ack {alert_id}",
        "TR-ORCH-001",
        "slack:U0LEAD0001",
        "ok",
        "slack:C0TRORCH1",
    )

    # Resolve from the replaced message: the acknowledgement stays on record, no button is left.
    status, _ = click(
        server,
        "alert_resolve",
        alert_id,
        slack.response_url("a2"),
        {"type": "message", "ts": "1.2", "text": replaced["text"], "blocks": replaced["blocks"]},
    )
    assert status == 200
    resolved = body_of(slack.wait_for("response:a2", timeout=10)[0])
    assert resolved["replace_original"] is True
    shown = texts(resolved["blocks"])
    assert text in shown and "Acknowledged by <@U0LEAD0001>" in shown and "Resolved by <@U0LEAD0001> at " in shown
    assert buttons(resolved["blocks"]) == []
    alert = alert_row(store[1], alert_id)
    assert (alert.status, alert.resolved_by, alert.acked_by) == ("resolved", "slack:U0LEAD0001", "slack:U0LEAD0001")
    assert slack.errors == []
    assert "Traceback" not in server.output()


def test_agents_may_acknowledge_or_resolve_strangers_may_not(server, slack, store):
    # `ack` and `resolve` are not privileged: any participant (an agent here) may use them; others only read.
    from sqlmodel import Session, select

    from models.db.tables import Agent

    with Session(store[1]) as session:
        agent = session.exec(select(Agent).where(Agent.key == "agent-c2")).one()
        agent.slack_user = "U0AGENTC2"
        session.add(agent)
        session.commit()
    text = "Agent dev-2 has been silent for 2h"
    first, second = add_alert(store[1], text), add_alert(store[1], text)
    click(server, "alert_ack", first, slack.response_url("n0"), alert_message(first, text), user="U0NOBODY01")
    stranger = body_of(slack.wait_for("response:n0", timeout=10)[0])
    assert stranger["response_type"] == "ephemeral" and "only the leads and agents" in stranger["text"]
    assert alert_row(store[1], first).status == "open"

    click(server, "alert_ack", first, slack.response_url("n1"), alert_message(first, text), user="U0AGENTC2")
    acked = body_of(slack.wait_for("response:n1", timeout=10)[0])
    assert acked["replace_original"] is True and "Acknowledged by <@U0AGENTC2>" in texts(acked["blocks"])
    assert (alert_row(store[1], first).status, alert_row(store[1], first).acked_by) == (
        "acknowledged",
        "slack:U0AGENTC2",
    )

    # Resolving an open alert straight away acknowledges it too.
    click(server, "alert_resolve", second, slack.response_url("n2"), alert_message(second, text), user="U0AGENTC2")
    resolved = body_of(slack.wait_for("response:n2", timeout=10)[0])
    assert resolved["replace_original"] is True and "Resolved by <@U0AGENTC2>" in texts(resolved["blocks"])
    assert buttons(resolved["blocks"]) == []
    row = alert_row(store[1], second)
    assert (row.status, row.resolved_by, row.acked_by) == ("resolved", "slack:U0AGENTC2", "slack:U0AGENTC2")

    # Clicking Acknowledge on a message left behind: refused, privately, and nothing changes.
    click(server, "alert_ack", second, slack.response_url("n3"), alert_message(second, text), user="U0LEAD0001")
    refusal = body_of(slack.wait_for("response:n3", timeout=10)[0])
    assert refusal["response_type"] == "ephemeral" and refusal["replace_original"] is False
    assert f"alert #{second} is already resolved" in refusal["text"]
    assert alert_row(store[1], second).resolved_by == "slack:U0AGENTC2"

    # An unknown alert number is refused the same way.
    click(server, "alert_ack", 999, slack.response_url("n4"), alert_message(999, text))
    unknown = body_of(slack.wait_for("response:n4", timeout=10)[0])
    assert unknown["response_type"] == "ephemeral" and "no alert #999" in unknown["text"]
    assert slack.errors == []
