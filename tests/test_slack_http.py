"""End to end over real sockets: `serve` in HTTP mode, a local stand-in for Slack, signed requests."""

import json
import socket
import time
from urllib.parse import urlencode

import pytest
from slack_sdk.signature import SignatureVerifier
from sqlmodel import Session, select

from models.db.tables import AuditEntry, Stream
from tests.fake_slack import FakeSlack
from tests.serve_process import SIGNING_SECRET, ServeProcess, block_action
from tests.slack_app import METRICS_TOKEN, body_of, buttons, texts


def test_status_is_acked_at_once_and_answered_privately_with_the_dashboard(server, slack):
    started = time.monotonic()
    status, body = server.slash("status", slack.response_url("r1"))
    assert status == 200 and body == ""
    assert time.monotonic() - started < 3  # Slack's limit for the ack; the dashboard comes after
    answer = body_of(slack.wait_for("response:r1")[0])
    assert answer["response_type"] == "ephemeral"
    shown = texts(answer["blocks"])
    assert answer["blocks"][0]["type"] == "header" and "TR-ORCH-001 · Restaurant Ticket Feature" in shown
    assert "stream-b-frontend" in shown and "Starting" in shown and "Pause" in shown
    assert slack.errors == []


def test_a_change_of_state_is_announced_in_the_channel_with_who_did_it(server, slack, store):
    server.slash("pause stream-b", slack.response_url("r2"))
    answer = body_of(slack.wait_for("response:r2")[0])
    assert answer["response_type"] == "in_channel"
    assert "Paused stream-b-frontend" in texts(answer["blocks"])
    assert "by <@U0LEAD0001>" in texts(answer["blocks"])
    with Session(store[1]) as session:
        assert session.exec(select(Stream.status).where(Stream.key == "stream-b-frontend")).one() == "paused"
        entry = session.exec(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert (entry.command, entry.actor, entry.outcome, entry.source) == (
        "pause stream-b",
        "slack:U0LEAD0001",
        "ok",
        "slack:C0TRORCH1",
    )


def test_errors_go_only_to_the_person_who_typed_and_change_nothing(server, slack, store):
    server.slash("pause stream-b", slack.response_url("r3"), user="U0NOBODY01")
    refusal = body_of(slack.wait_for("response:r3")[0])
    assert refusal["response_type"] == "ephemeral"
    assert "only a lead of TR-ORCH-001 may pause a stream; leads: <@U0LEAD0001>" in refusal["text"]
    server.slash("paws", slack.response_url("r4"))
    usage = body_of(slack.wait_for("response:r4")[0])
    assert usage["response_type"] == "ephemeral" and "did you mean `pause`" in usage["text"]
    with Session(store[1]) as session:
        assert session.exec(select(Stream.status).where(Stream.key == "stream-b-frontend")).one() == "active"


def test_a_forged_or_stale_request_is_refused(server, slack):
    status, _ = server.slash("pause stream-b", slack.response_url("x1"), secret="not-the-secret")
    assert status == 401
    status, _ = server.slash("pause stream-b", slack.response_url("x2"), timestamp=int(time.time()) - 600)
    assert status == 401
    time.sleep(0.5)
    assert slack.calls_to("response:x1") == [] and slack.calls_to("response:x2") == []


def test_the_pause_button_pauses_announces_and_refreshes_the_dashboard(server, slack):
    server.interaction(block_action("stream_pause", "TR-ORCH-001|stream-c-testing", slack.response_url("b1")))
    announcement, refreshed = [body_of(c) for c in slack.wait_for("response:b1", count=2)]
    assert announcement["response_type"] == "in_channel" and "Paused stream-c-testing" in announcement["text"]
    assert refreshed["replace_original"] is True
    # Each action_id once in a message (Slack refuses one twice): the second Pause is stream_pause:2.
    assert buttons(refreshed["blocks"]) == ["stream_pause", "stream_pause:2", "stream_resume", "dashboard_refresh"]


def test_buttons_check_the_same_permissions_as_the_commands(server, slack, store):
    server.interaction(
        block_action("stream_pause", "TR-ORCH-001|stream-c-testing", slack.response_url("b2"), user="U0NOBODY01")
    )
    refusal = body_of(slack.wait_for("response:b2")[0])
    assert refusal["response_type"] == "ephemeral" and "only a lead" in refusal["text"]
    with Session(store[1]) as session:
        assert session.exec(select(Stream.status).where(Stream.key == "stream-c-testing")).one() == "active"


def test_a_checklist_is_ticked_and_a_pass_with_unmet_criteria_asks_for_a_reason(server, slack):
    server.slash("sync --checkpoint cp-2", slack.response_url("c1"))
    checklist = body_of(slack.wait_for("response:c1")[0])
    assert checklist["response_type"] == "in_channel"
    assert buttons(checklist["blocks"]) == ["criterion_tick", "criterion_tick:2", "criterion_tick:3", "checkpoint_pass"]
    # The second Tick's id, as Slack sends it back: the listener of criterion_tick takes it.
    server.interaction(block_action("criterion_tick:2", "TR-ORCH-001|cp-2|2", slack.response_url("c2")))
    ticked = body_of(slack.wait_for("response:c2")[0])
    assert ticked["replace_original"] is True
    assert buttons(ticked["blocks"]) == ["criterion_tick", "criterion_tick:2", "checkpoint_pass"]
    server.interaction(block_action("checkpoint_pass", "TR-ORCH-001|cp-2", slack.response_url("c3")))
    modal = slack.wait_for("views.open")[0].body
    view = modal["view"] if isinstance(modal["view"], dict) else json.loads(modal["view"])
    assert view["callback_id"] == "confirm_command" and view["title"]["text"] == "Force the gate"


def test_an_emergency_stop_is_confirmed_in_a_modal_before_it_acts(server, slack, store):
    server.slash('stop --emergency --reason "Critical issue found"', slack.response_url("s1"))
    opened = slack.wait_for("views.open")[0].body
    view = opened["view"] if isinstance(opened["view"], dict) else json.loads(opened["view"])
    assert view["title"]["text"] == "Emergency stop"
    with Session(store[1]) as session:
        assert [s for s in session.exec(select(Stream.status))] == ["active"] * 3  # nothing yet
    submission = {
        "type": "view_submission",
        "team": {"id": "T0TEST"},
        "api_app_id": "A0TEST",
        "user": {"id": "U0LEAD0001", "username": "lead"},
        "view": {
            **view,
            "id": "V1",
            "state": {"values": {"reason": {"value": {"type": "plain_text_input", "value": "Critical issue found"}}}},
        },
    }
    status, _ = server.interaction(submission)
    assert status == 200
    announced = body_of(slack.wait_for("response:s1")[0])
    assert announced["response_type"] == "in_channel"
    assert (
        "EMERGENCY STOP: TR-ORCH-001 is stopped (3 stream(s) halted). Reason: Critical issue found" in announced["text"]
    )


def test_app_home_publishes_the_dashboards_of_the_users_plans(server, slack):
    server.event({"type": "app_home_opened", "user": "U0LEAD0001", "channel": "D1", "tab": "home"})
    published = slack.wait_for("views.publish")[0].body
    view = published["view"] if isinstance(published["view"], dict) else json.loads(published["view"])
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    assert "TR-ORCH-001 · Restaurant Ticket Feature" in texts(view["blocks"])
    server.event({"type": "app_home_opened", "user": "U0NOBODY01", "channel": "D2", "tab": "home"}, event_id="Ev2")
    other = slack.wait_for("views.publish", count=2)[1].body
    other_view = other["view"] if isinstance(other["view"], dict) else json.loads(other["view"])
    assert "You take part in no plan yet" in texts(other_view["blocks"])


def test_health_and_metrics_are_served(server, slack):
    server.slash("health", slack.response_url("m1"))
    slack.wait_for("response:m1")
    status, text = server.get("/metrics", token=METRICS_TOKEN)
    assert status == 200
    assert 'orchestrate_http_requests_total{route="/slack/events",status="200"}' in text
    assert "orchestrate_http_request_seconds_bucket" in text
    assert server.get("/healthz") == (200, '{"ok":true}')


def test_a_command_whose_ack_nobody_reads_still_runs(server, slack):
    """The work waits for the ack to be sent (bot.http); a caller gone before it must not lose it."""
    for n in range(5):
        body = urlencode(
            {
                "token": "legacy",
                "team_id": "T0TEST",
                "team_domain": "test",
                "channel_id": "C0TRORCH1",
                "channel_name": "tr-orchestration",
                "user_id": "U0LEAD0001",
                "user_name": "lead",
                "command": "/orchestrate",
                "text": "status",
                "api_app_id": "A0TEST",
                "response_url": slack.response_url(f"gone{n}"),
                "trigger_id": "1337.42.abcd",
            }
        )
        timestamp = str(int(time.time()))
        signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=timestamp, body=body)
        request = (
            "POST /slack/events HTTP/1.1\r\nHost: localhost\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"X-Slack-Request-Timestamp: {timestamp}\r\nX-Slack-Signature: {signature}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}"
        )
        with socket.create_connection(("127.0.0.1", server.port)) as connection:
            connection.sendall(request.encode())  # and hang up without reading the ack
    for n in range(5):
        answer = body_of(slack.wait_for(f"response:gone{n}", timeout=10)[0])
        assert answer["response_type"] == "ephemeral" and "TR-ORCH-001" in answer["text"]


@pytest.mark.parametrize("mode", ["http", "socket"])
def test_serve_says_so_when_slack_cannot_be_reached_to_check_the_token(tmp_path, store, mode):
    with FakeSlack() as gone:
        url = gone.url
    # Nothing listens at `url` any more: the token cannot be checked.
    process = ServeProcess(tmp_path, url, store[0], mode=mode, extra_env={"SLACK_APP_TOKEN": "xapp-1-test"})
    try:
        assert process.process.wait(timeout=60) == 1
    finally:
        process.stop()
    output = process.output()
    assert f"could not check the bot token with Slack at {url}" in output
    assert "Traceback" not in output
