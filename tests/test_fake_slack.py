"""FakeSlack, driven through slack_sdk's real clients over real local HTTP."""

import json
import time

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from tests.fake_slack import FakeSlack


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


@pytest.fixture
def client(fake_slack):
    # No retry handlers unless a test adds one: a 429 must surface as an error.
    return WebClient(token="xoxb-test", base_url=fake_slack.url, retry_handlers=[])


def test_url_is_a_local_web_api_base(fake_slack):
    assert fake_slack.url.startswith("http://127.0.0.1:")
    assert fake_slack.url.endswith("/api/")
    assert fake_slack.response_url("r9") == fake_slack.url.replace("/api/", "/response/r9")


def test_context_manager_starts_and_stops():
    with FakeSlack() as slack:
        assert WebClient(token="xoxb-x", base_url=slack.url).auth_test()["ok"]
    with pytest.raises(RuntimeError):
        _ = slack.url


def test_auth_test_names_the_bot(client):
    resp = client.auth_test()
    assert (resp["user_id"], resp["bot_id"], resp["team_id"]) == ("UBOT", "BBOT", "T0TEST")
    assert resp["url"].startswith("https://")


def test_post_message_is_recorded_with_token_and_blocks(fake_slack, client):
    resp = client.chat_postMessage(channel="C123", text="hello", blocks=[section("*hello*")])

    assert resp["ok"] and resp["channel"] == "C123"
    assert resp["message"]["blocks"][0]["text"]["text"] == "*hello*"
    [call] = fake_slack.wait_for("chat.postMessage")
    assert call.body["channel"] == "C123"
    assert call.body["blocks"] == [section("*hello*")]
    assert call.headers["authorization"] == "Bearer xoxb-test"
    assert call.failed is False
    assert fake_slack.errors == []


def test_ts_values_are_unique_and_increasing(client):
    stamps = [client.chat_postMessage(channel="C1", text=str(i))["ts"] for i in range(3)]
    assert abs(float(stamps[0]) - time.time()) < 60  # Slack's ts is the message's epoch time
    assert stamps == sorted(stamps, key=float) and len(set(stamps)) == 3


def test_blocks_sent_form_encoded_are_decoded(fake_slack, client):
    # In form-encoded bodies, structured fields arrive as JSON strings.
    client.api_call("chat.postMessage", params={"channel": "C1", "blocks": json.dumps([section("x")])})
    [call] = fake_slack.calls_to("chat.postMessage")
    assert call.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert call.body["blocks"] == [section("x")]
    assert fake_slack.errors == []


def test_section_over_3000_chars_is_refused(fake_slack, client):
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C1", text="t", blocks=[section("x" * 3001)])

    assert err.value.response["error"] == "invalid_blocks"
    assert err.value.response.status_code == 200  # Slack refuses blocks with a 200
    assert len(fake_slack.errors) == 1
    assert "3000" in fake_slack.errors[0] and "/blocks/0" in fake_slack.errors[0]
    assert fake_slack.errors[0].startswith("chat.postMessage:")
    # Exactly at the limit is fine.
    client.chat_postMessage(channel="C1", text="t", blocks=[section("x" * 3000)])
    assert len(fake_slack.errors) == 1


def test_51_blocks_in_a_message_are_refused(fake_slack, client):
    posted = client.chat_postMessage(channel="C1", text="t", blocks=[section("b")] * 50)
    assert fake_slack.errors == []

    with pytest.raises(SlackApiError) as err:
        client.chat_update(channel="C1", ts=posted["ts"], text="t", blocks=[section("b")] * 51)
    assert err.value.response["error"] == "invalid_blocks"
    assert fake_slack.errors == ["chat.update: no more than 50 items allowed, got 51 [json-pointer:/blocks]"]


def test_unknown_block_type_is_refused(fake_slack, client):
    with pytest.raises(SlackApiError):
        client.chat_postEphemeral(channel="C1", user="U1", text="t", blocks=[{"type": "nonsense"}])
    assert fake_slack.errors and "nonsense" in fake_slack.errors[0]


def test_views_allow_100_blocks_but_not_101(fake_slack, client):
    home = {"type": "home", "blocks": [section("b")] * 100}
    resp = client.views_publish(user_id="U1", view=home)
    assert resp["view"]["id"].startswith("V") and resp["view"]["type"] == "home"
    assert fake_slack.errors == []

    modal = {"type": "modal", "title": {"type": "plain_text", "text": "T"}, "blocks": [section("b")] * 101}
    with pytest.raises(SlackApiError):
        client.views_open(trigger_id="1.2.3", view=modal)
    assert fake_slack.errors == ["views.open: no more than 100 items allowed, got 101 [json-pointer:/view/blocks]"]


def test_view_level_limits_use_slack_sdk_validators(fake_slack, client):
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "x" * 25}, "blocks": [section("b")]}
    with pytest.raises(SlackApiError):
        client.views_open(trigger_id="1.2.3", view=modal)
    assert "title" in fake_slack.errors[0]


def test_views_update_keeps_the_view_id(client):
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "T"}, "blocks": [section("b")]}
    opened = client.views_open(trigger_id="1.2.3", view=modal)["view"]["id"]
    assert client.views_update(view_id=opened, view=modal)["view"]["id"] == opened
    assert client.views_push(trigger_id="1.2.4", view=modal)["view"]["id"] != opened


def test_fail_next_429_raises_without_a_retry_handler(fake_slack, client):
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=1)

    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C1", text="hi")

    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] == "1"
    assert err.value.response["error"] == "ratelimited"
    [call] = fake_slack.calls_to("chat.postMessage")
    assert call.failed is True
    # Only the next call fails.
    assert client.chat_postMessage(channel="C1", text="hi")["ok"]


def test_fail_next_429_is_retried_by_rate_limit_handler(fake_slack):
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=0)
    client = WebClient(token="xoxb-test", base_url=fake_slack.url, retry_handlers=[RateLimitErrorRetryHandler()])

    resp = client.chat_postMessage(channel="C1", text="hi")

    assert resp["ok"]
    failed, retried = fake_slack.wait_for("chat.postMessage", count=2)
    assert (failed.failed, retried.failed) == (True, False)
    assert retried.at >= failed.at
    assert fake_slack.calls_to("chat.postMessage", include_failed=False) == [retried]


def test_fail_next_500_and_times(fake_slack, client):
    fake_slack.fail_next("auth.test", status=500, times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as err:
            client.auth_test()
        assert err.value.response.status_code == 500
    assert client.auth_test()["ok"]
    assert [c.failed for c in fake_slack.calls_to("auth.test")] == [True, True, False]


def test_unknown_token_is_invalid_auth(fake_slack):
    with pytest.raises(SlackApiError) as err:
        WebClient(token="xoxp-user", base_url=fake_slack.url).chat_postMessage(channel="C1", text="hi")
    assert err.value.response["error"] == "invalid_auth"
    assert fake_slack.calls_to("chat.postMessage")  # still recorded


def test_apps_connections_open_needs_app_token_and_a_socket_url(fake_slack):
    app_client = WebClient(token="xapp-1-test", base_url=fake_slack.url)
    with pytest.raises(SlackApiError) as err:
        app_client.apps_connections_open(app_token="xapp-1-test")
    assert err.value.response["error"] == "not_configured"

    fake_slack.socket_url = "ws://127.0.0.1:1/socket"
    assert app_client.apps_connections_open(app_token="xapp-1-test")["url"] == "ws://127.0.0.1:1/socket"
    with pytest.raises(SlackApiError) as err:
        WebClient(token="xoxb-test", base_url=fake_slack.url).apps_connections_open(app_token="xoxb-test")
    assert err.value.response["error"] == "invalid_auth"


def test_conversations_open_and_users_info(fake_slack, client):
    assert client.conversations_open(users="U42")["channel"]["id"] == "DU42"
    fake_slack.users["U42"] = {"tz": "America/New_York"}
    user = client.users_info(user="U42")["user"]
    assert (user["id"], user["tz"]) == ("U42", "America/New_York")


def test_other_methods_answer_ok(fake_slack, client):
    assert client.api_call("reactions.add", params={"channel": "C1", "name": "eyes", "timestamp": "1.2"})["ok"]
    assert fake_slack.calls_to("reactions.add")[0].body["name"] == "eyes"


def test_files_upload_v2_goes_through_upload_url(fake_slack, client):
    resp = client.files_upload_v2(channel="C1", filename="report.csv", content="a,b\n1,2\n", title="Report")

    assert resp["file"]["title"] == "Report"
    [upload_url_call] = fake_slack.calls_to("files.getUploadURLExternal")
    [upload] = [c for c in fake_slack.calls if c.method.startswith("upload:")]
    assert upload.raw == b"a,b\n1,2\n"
    [done] = fake_slack.calls_to("files.completeUploadExternal")
    assert done.body["files"][0]["id"] == upload.method.split(":", 1)[1]
    assert upload_url_call.body["filename"] == "report.csv"


def test_response_url_posts_are_recorded(fake_slack):
    webhook = WebhookClient(fake_slack.response_url("r1"))

    resp = webhook.send(text="done", replace_original=True, blocks=[section("done")])

    assert (resp.status_code, resp.body) == (200, "ok")
    [call] = fake_slack.wait_for("response:r1")
    assert call.body["replace_original"] is True
    assert call.body["blocks"] == [section("done")]

    bad = webhook.send(text="t", blocks=[section("x" * 3001)])
    assert json.loads(bad.body)["error"] == "invalid_blocks"
    assert fake_slack.errors[0].startswith("response:r1:")


def test_wait_for_times_out_with_a_clear_message(fake_slack, client):
    client.auth_test()
    started = time.monotonic()

    with pytest.raises(AssertionError) as err:
        fake_slack.wait_for("chat.postMessage", count=1, timeout=0.2)

    assert time.monotonic() - started < 2
    message = str(err.value)
    assert "expected 1 call(s) to chat.postMessage within 0.2s, got 0" in message
    assert "arrived: auth.test" in message


def test_wait_for_sees_calls_from_another_thread(fake_slack, client):
    import threading

    threading.Timer(0.1, lambda: client.chat_postMessage(channel="C1", text="later")).start()
    [call] = fake_slack.wait_for("chat.postMessage", timeout=5)
    assert call.body["text"] == "later"


def test_reset_forgets_calls_errors_and_failures(fake_slack, client):
    fake_slack.fail_next("auth.test")
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel="C1", text="t", blocks=[section("x" * 3001)])
    fake_slack.reset()
    assert (fake_slack.calls, fake_slack.errors) == ([], [])
    assert client.auth_test()["ok"]


def test_unknown_paths_are_recorded_and_404(fake_slack):
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(fake_slack.url.replace("/api/", "/nowhere"), data=b"")
    assert err.value.code == 404
    err.value.close()
    assert fake_slack.calls[0].method == "http:/nowhere"


def test_a_lost_answer_leaves_the_post_done_and_the_caller_without_an_answer(fake_slack):
    client = WebClient(token="xoxb-test", base_url=fake_slack.url, retry_handlers=[])
    fake_slack.lose_answer_next("chat.postMessage")
    with pytest.raises(Exception) as lost:
        client.chat_postMessage(channel="#general", text="hello")
    assert not isinstance(lost.value, SlackApiError)  # no answer at all, not an error answer
    assert [m["text"] for m in client.conversations_history(channel="#general")["messages"]] == ["hello"]
    client.chat_postMessage(channel="#general", text="again")  # only the next one was lost


# --- conversations.history as a non-Marketplace app gets it, and message metadata ---------------------------
# Source: https://api.slack.com/changelog/2025-05-terms-rate-limit-update-and-faq (1 request a minute, at
# most 15 messages); metadata: https://api.slack.com/reference/metadata (chat.postMessage's `metadata`,
# returned by conversations.history with include_all_metadata=true).


def test_history_gives_at_most_15_messages_and_one_answer_a_minute(fake_slack, client):
    for i in range(20):
        client.chat_postMessage(channel="C1", text=str(i))
    page = client.conversations_history(channel="C1", limit=100)
    assert [m["text"] for m in page["messages"]] == [str(i) for i in range(19, 4, -1)]
    assert page["has_more"] is True
    with pytest.raises(SlackApiError) as limited:
        client.conversations_history(channel="C1")
    assert limited.value.response.status_code == 429
    assert int(limited.value.response.headers["Retry-After"]) > 1
    fake_slack.a_minute_passes()
    assert len(client.conversations_history(channel="C1")["messages"]) == 15


def test_history_since_oldest_carries_the_posts_metadata_when_asked(fake_slack, client):
    fake_slack.history_limited = False
    before = client.chat_postMessage(channel="C1", text="before")["ts"]
    marked = {"event_type": "orchestrate_test", "event_payload": {"delivery_id": 7}}
    client.chat_postMessage(channel="C1", text="marked", metadata=marked)
    plain = client.conversations_history(channel="C1", oldest=before)["messages"]
    assert [(m["text"], "metadata" in m) for m in plain] == [("marked", False)]
    [message] = client.conversations_history(channel="C1", oldest=before, include_all_metadata=True)["messages"]
    assert message["metadata"] == marked


def test_metadata_without_an_event_payload_is_refused(client):
    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel="C1", text="x", metadata={"event_type": "orchestrate_test"})
    assert refused.value.response["error"] == "invalid_metadata_schema"


# --- Slack's limits (tests/slack_payloads/LIMITS.md) -------------------------------------------


@pytest.fixture
def limited():
    with FakeSlack(rate_limits=True) as slack:
        yield slack, WebClient(token="xoxb-test", base_url=slack.url, retry_handlers=[])


def test_chat_post_message_is_one_a_second_per_channel_and_answers_429_with_retry_after(limited):
    slack, client = limited
    client.chat_postMessage(channel="C1", text="one")
    client.chat_postMessage(channel="C2", text="another channel is another limit")
    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel="C1", text="too soon")
    assert refused.value.response.status_code == 429
    assert refused.value.response.headers["Retry-After"] == "1"
    assert refused.value.response["error"] == "ratelimited"
    assert slack.ratelimited == {"chat.postMessage": 1}
    assert [m["text"] for m in slack.messages("C1")] == ["one"]


def test_chat_update_is_tier_3_fifty_a_minute(limited):
    _slack, client = limited
    posted = client.chat_postMessage(channel="C1", text="prompt")
    for n in range(50):
        client.chat_update(channel="C1", ts=posted["ts"], text=f"v{n}")
    with pytest.raises(SlackApiError) as refused:
        client.chat_update(channel="C1", ts=posted["ts"], text="v50")
    assert refused.value.response.status_code == 429 and int(refused.value.response.headers["Retry-After"]) > 50


def test_conversations_history_is_one_a_minute_and_fifteen_messages(limited):
    slack, client = limited
    for n in range(20):
        slack._post_message({"channel": "C1", "text": f"m{n}"})
    page = client.conversations_history(channel="C1", limit=100)
    assert len(page["messages"]) == 15 and page["has_more"] is True
    with pytest.raises(SlackApiError) as refused:
        client.conversations_history(channel="C1", limit=15)
    assert refused.value.response.status_code == 429


def test_a_message_of_more_than_40000_characters_is_refused(limited):
    _slack, client = limited
    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel="C1", text="x" * 40_001)
    assert refused.value.response["error"] == "msg_too_long"


def test_a_trigger_id_opens_one_view_within_three_seconds(limited):
    slack, client = limited
    view = {"type": "modal", "title": {"type": "plain_text", "text": "T"}, "blocks": []}
    fresh = slack.trigger_id()
    client.views_open(trigger_id=fresh, view=view)
    with pytest.raises(SlackApiError) as again:
        client.views_open(trigger_id=fresh, view=view)
    assert again.value.response["error"] == "exchanged_trigger_id"
    stale = slack.trigger_id()
    time.sleep(3.2)
    with pytest.raises(SlackApiError) as late:
        client.views_open(trigger_id=stale, view=view)
    assert late.value.response["error"] == "expired_trigger_id"


# --- chat.update as Slack answers it (docs.slack.dev/reference/methods/chat.update) ------------


def test_chat_update_of_a_ts_never_posted_in_that_channel_is_message_not_found(fake_slack, client):
    # chat.update errors: "message_not_found — No message exists with the requested timestamp"
    # (tests/slack_payloads/api_chat_update_message_not_found.json).
    posted = client.chat_postMessage(channel="C1", text="prompt")
    for channel, ts in (("C1", "1700000000.000100"), ("C2", posted["ts"])):
        with pytest.raises(SlackApiError) as refused:
            client.chat_update(channel=channel, ts=ts, text="redrawn")
        assert refused.value.response.status_code == 200
        assert refused.value.response.data == {"ok": False, "error": "message_not_found"}
    assert [m["text"] for m in fake_slack.messages("C1")] == ["prompt"]
    assert fake_slack.refusals == [("chat.update", "message_not_found")] * 2


def test_chat_update_replaces_the_posted_message_in_history_and_marks_it_edited(fake_slack, client):
    # chat.update: blocks and attachments left out are retained; edited messages carry
    # `edited: {user, ts}` in conversations.history (docs.slack.dev/reference/methods/chat.update,
    # docs.slack.dev/reference/methods/conversations.history).
    fake_slack.history_limited = False
    first = {"event_type": "orchestrate_test", "event_payload": {"version": 1}}
    posted = client.chat_postMessage(channel="C1", text="v1", blocks=[section("v1")], metadata=first)
    client.chat_postMessage(channel="C1", text="other")
    answer = client.chat_update(channel="C1", ts=posted["ts"], text="v2")
    assert (answer["channel"], answer["ts"], answer["text"]) == ("C1", posted["ts"], "v2")
    assert answer["message"]["blocks"] == [section("v1")]  # not given: kept
    second = {"event_type": "orchestrate_test", "event_payload": {"version": 2}}
    client.chat_update(channel="C1", ts=posted["ts"], text="v3", blocks=[section("v3")], metadata=second)
    history = client.conversations_history(channel="C1", include_all_metadata=True)["messages"]
    assert [m["text"] for m in history] == ["other", "v3"]
    edited = history[1]
    assert edited["ts"] == posted["ts"] and edited["blocks"] == [section("v3")] and edited["metadata"] == second
    assert edited["edited"]["user"] == "UBOT" and float(edited["edited"]["ts"]) > float(posted["ts"])
    assert "edited" not in history[0]


def test_invalid_blocks_answers_carry_response_metadata_messages(fake_slack, client):
    # chat.postMessage's invalid_blocks answer carries `errors` and, as every Web API error may,
    # `response_metadata.messages`, each "[ERROR] …" (docs.slack.dev/reference/methods/chat.postMessage,
    # "invalid_blocks"; java-slack-sdk json-logs/samples/api/chat.postMessage.json;
    # tests/slack_payloads/api_invalid_blocks.json).
    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel="C1", text="t", blocks=[section("x" * 3001), {"type": "nonsense"}])
    answer = refused.value.response.data
    assert answer["ok"] is False and answer["error"] == "invalid_blocks"
    assert len(answer["errors"]) == 2 and all("[json-pointer:/blocks/" in e for e in answer["errors"])
    assert answer["response_metadata"] == {"messages": [f"[ERROR] {e}" for e in answer["errors"]]}
    view = {"type": "modal", "title": {"type": "plain_text", "text": "T"}, "blocks": [{"type": "nonsense"}]}
    with pytest.raises(SlackApiError) as view_refused:
        client.views_open(trigger_id="1.2.3", view=view)
    assert view_refused.value.response["response_metadata"]["messages"][0].startswith("[ERROR] ")


def test_post_message_echoes_the_message_as_slack_does(client):
    # chat.postMessage's `message`: a modern app's bot message with `app_id`, `team`, `bot_profile`,
    # and `metadata` when posted with it (docs.slack.dev/reference/methods/chat.postMessage; java-slack-sdk
    # json-logs/samples/api/chat.postMessage.json; tests/slack_payloads/api_chat_postMessage_ok.json).
    marked = {"event_type": "orchestrate_test", "event_payload": {"plan_id": "TR-ORCH-001"}}
    answer = client.chat_postMessage(channel="C1", text="started", blocks=[section("*started*")], metadata=marked)
    message = answer["message"]
    assert (message["user"], message["bot_id"], message["app_id"], message["team"]) == (
        "UBOT",
        "BBOT",
        "A0ORCH",
        "T0TEST",
    )
    assert message["ts"] == answer["ts"] and message["text"] == "started" and message["metadata"] == marked
    profile = message["bot_profile"]
    assert (profile["id"], profile["app_id"], profile["team_id"], profile["deleted"]) == (
        "BBOT",
        "A0ORCH",
        "T0TEST",
        False,
    )
    assert profile["name"] and set(profile["icons"]) >= {"image_36", "image_48", "image_72"}
    assert "metadata" not in client.chat_postMessage(channel="C1", text="plain")["message"]
