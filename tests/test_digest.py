"""The weekly digest: the week's report in brief with its burn-up chart, posted once in the plan's channel
after the end-of-day sync on the day the plan sets (default Friday), however many replicas run."""

import json
from dataclasses import replace
from datetime import datetime, timedelta
from urllib.parse import urlencode

import pytest
from slack_bolt.request import BoltRequest
from sqlmodel import Session, col, select

from bot import scheduler
from bot.app import build_app, web_client
from commands.core.errors import CommandError
from models.db.tables import CriterionVerdict, Task
from models.plan.schema import PlanFileError, read_plan_text
from tests.clock import PARIS
from tests.conftest import EXAMPLE_PLAN
from tests.conftest import LEAD as LEAD_ACTOR
from tests.serve_process import fixture
from tests.slack_app import body_of, texts
from tests.test_sync_schedule import jobs, paris  # noqa: F401 - the fake-clock fixture

DIGEST = "*Weekly digest of TR-ORCH-001*, Mon 05 Jan to Fri 09 Jan"


CHANNEL = "#tr-orchestration"  # the example plan's channel
STORY = "orchestrate_story"  # the metadata event_type of the digest's and the retrospective's messages


def story_posts(slack, title: str) -> list[dict]:
    """The messages in the plan's channel that start with ``title``, as Slack keeps them."""
    return [m for m in slack.messages(CHANNEL) if shown(m).startswith(title)]


def shown(message: dict) -> str:
    """What a person reads in a message: its sections' text, in order (Slack shows &lt; &gt; &amp; as < > &)."""
    text = "\n".join(b["text"]["text"] for b in message.get("blocks", []) if b.get("type") == "section")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def digests(slack) -> list[str]:
    return [shown(m) for m in story_posts(slack, "*Weekly digest")]


def charts_in_thread(slack, ts: str) -> list[str]:
    """The titles of the files shared in the thread of the message ``ts``."""
    return [
        f["title"]
        for c in slack.calls_to("files.completeUploadExternal", include_failed=False)
        if c.body.get("thread_ts") == ts
        for f in c.body["files"]
    ]


def test_the_digest_is_posted_once_on_friday_after_the_end_of_day_sync(jobs, slack):  # noqa: F811
    jobs.at(paris(2026, 1, 5, 10, 0))
    jobs("task done T1")
    jobs.at(paris(2026, 1, 8, 17, 0))  # Thursday: the end-of-day summary only
    scheduler.run_slot("TR-ORCH-001", "end-of-day")
    jobs.at(paris(2026, 1, 9, 9, 0))  # Friday's standup: no digest yet
    scheduler.run_slot("TR-ORCH-001", "standup")
    assert digests(slack) == []

    jobs.at(paris(2026, 1, 9, 17, 0))
    scheduler.run_slot("TR-ORCH-001", "end-of-day")
    scheduler.run_slot("TR-ORCH-001", "end-of-day")  # the job fired twice
    scheduler._runtime = replace(scheduler._require_runtime(), name="replica-2")  # and on another replica
    scheduler.run_slot("TR-ORCH-001", "end-of-day")

    [digest] = digests(slack)
    assert digest.startswith(DIGEST)
    # A count of 0 says no more: not "0 blocked (0.0 working hours blocked)".
    assert "• 1 task done (20.0 h of estimate), 0 reopened, 0 blocked" in digest.splitlines()
    assert "• Burn-up: 20.0 h done by Fri 09 Jan against" in digest
    assert "`report TR-ORCH-001 --from 2026-01-05 --to 2026-01-09`" in digest
    [message] = story_posts(slack, "*Weekly digest")
    assert message["metadata"]["event_type"] == STORY
    assert charts_in_thread(slack, message["ts"]) == ["TR-ORCH-001: burn-up, week to 2026-01-09"]
    # The chart's share says what it is: a notification or a screen reader has no image to show.
    [share] = [c for c in slack.calls_to("files.completeUploadExternal") if c.body.get("thread_ts") == message["ts"]]
    assert share.body["initial_comment"] == "TR-ORCH-001: burn-up, week to 2026-01-09"
    pngs = [c for c in slack.calls if c.method.startswith("upload:") and c.raw.startswith(b"\x89PNG")]
    assert len(pngs) == 3  # Thursday's and Friday's end-of-day charts, and the digest's burn-up


def test_the_plan_sets_the_day_and_the_sync_and_can_turn_it_off(jobs, slack, tmp_path):  # noqa: F811
    wednesday = tmp_path / "wednesday.yml"
    wednesday.write_text(EXAMPLE_PLAN.read_text() + "digest: {day: wed, after: standup}\n")
    jobs(f"plan load {wednesday}")
    jobs.at(paris(2026, 1, 7, 9, 0))
    scheduler.run_slot("TR-ORCH-001", "standup")
    assert [d.splitlines()[0] for d in digests(slack)] == ["*Weekly digest of TR-ORCH-001*, Mon 05 Jan to Wed 07 Jan"]

    off = tmp_path / "off.yml"
    off.write_text(EXAMPLE_PLAN.read_text() + "digest: off\n")
    jobs(f"plan load {off}")
    jobs.at(paris(2026, 1, 16, 17, 0))  # the next Friday
    scheduler.run_slot("TR-ORCH-001", "end-of-day")
    assert len(digests(slack)) == 1


def test_a_digest_setting_that_cannot_be_is_refused_with_what_would_be_right():
    text = EXAMPLE_PLAN.read_text()
    with pytest.raises(PlanFileError) as caught:
        read_plan_text(text + "digest: {day: sat, after: nightly}\n")
    problems = "\n".join(caught.value.problems)
    assert "digest.day" in problems and "sat is not a working day: pick one of mon, tue, wed, thu, fri" in problems
    assert "'nightly' is no sync entry of the plan (known: standup, progress-check, end-of-day)" in problems
    with pytest.raises(PlanFileError) as caught:
        read_plan_text(text + "digest: {day: friday}\n")
    assert "digest.day" in "\n".join(caught.value.problems)
    read_plan_text(text + "digest: {day: wed, after: standup}\n")
    read_plan_text(text + "digest: off\n")


# --- the retrospective ------------------------------------------------------------------


def retrospectives(slack) -> list[str]:
    return [shown(m) for m in story_posts(slack, "*Retrospective")]


def test_a_plan_stopped_gets_its_whole_story_once(jobs, slack, tmp_path):  # noqa: F811
    criteria = tmp_path / "criteria.yml"
    criteria.write_text(
        EXAMPLE_PLAN.read_text().replace(
            '"All backend services operational, <100ms response time"', '"code coverage kept"'
        )
    )
    jobs(f"plan load {criteria}")
    jobs.at(paris(2026, 1, 5, 10, 0))
    jobs("task done T1")
    jobs("metric code-coverage 93%")
    jobs("metric test-coverage 78%")
    jobs("validate --checkpoint cp-1 --criterion 1,2,3", actor=LEAD_ACTOR)
    scheduler.tick()
    assert retrospectives(slack) == []  # running, tasks still to do: no story yet
    jobs.at(paris(2026, 1, 7, 12, 0))
    jobs("stop --reason 'scope cut'")
    scheduler.tick()
    scheduler.tick()  # the next minute, and another replica: still once
    scheduler._runtime = replace(scheduler._require_runtime(), name="replica-2")
    scheduler.tick()

    [story] = retrospectives(slack)
    lines = story.splitlines()
    assert lines[0] == "*Retrospective of TR-ORCH-001*, Mon 05 Jan to Wed 07 Jan"
    assert lines[1] == "Stopped on Wed 07 Jan (scope cut), working day 3 of 10, with 1 of 24 tasks done"
    assert "• stream-a-backend: “code coverage kept” — met (code-coverage 93%; target > 90%)" in lines
    assert (
        "• stream-b-frontend: “All UI components functional, accessibility compliant” — to confirm (no metric reported)"
    ) in lines
    assert "*Gates*" in lines and "*Quality metrics at the end*" in lines
    assert "• code-coverage: 93% (target > 90%, met)" in lines
    assert "• test-coverage: 78% (no target)" in lines  # a metric the plan sets no target for
    assert "• cp-1 Database Schema Validation: passed by <@U0LEAD0001>" in lines  # Slack shows the lead's name
    [message] = story_posts(slack, "*Retrospective")
    title = "TR-ORCH-001: burn-up of the whole plan, 2026-01-05 to 2026-01-07"
    assert charts_in_thread(slack, message["ts"]) == [title]


def test_an_emergency_stop_is_a_pause_and_tells_no_story(jobs, slack):  # noqa: F811
    jobs("stop --emergency --reason 'prod is down'")
    scheduler.tick()
    assert retrospectives(slack) == []


# --- within Slack's limits: a refusal is tried again, never posted twice ------------------------------


@pytest.fixture
def served(jobs, engine, slack):  # noqa: F811
    """The jobs as `serve` runs them: through the app's own Slack client (bot.app.web_client), which
    never sends a post again blind when its answer is lost."""
    scheduler.use(engine, web_client("xoxb-test", slack.url), clock=lambda: jobs.now)
    return jobs


def wait_and_retry(runner, seconds: float, slack=None) -> None:
    """The clock ``seconds`` on, then the scheduler's two-second job that tries failed posts again (with
    ``slack``: a minute has passed for Slack's one history look a minute too)."""
    runner.advance(seconds=seconds)
    if slack is not None:
        slack.a_minute_passes()
    scheduler.retry_posts()


def end_of_day_posts(slack) -> tuple[int, int]:
    """How many end-of-day prompts and summaries are in the plan's channel."""
    texts = [m.get("text", "") for m in slack.messages(CHANNEL)]
    return texts.count("Sync: end-of-day (TR-ORCH-001)"), sum(t.startswith("End of day") for t in texts)


def test_a_digest_slack_refuses_with_429_goes_out_once_when_slack_takes_it(served, slack):
    served.at(paris(2026, 1, 9, 17, 0))
    # The end of a busy Friday: Slack refuses the first posts in the channel, and the first upload.
    slack.fail_next("chat.postMessage", status=429, retry_after=5, times=2)  # the prompt's, then the digest's
    slack.fail_next("files.completeUploadExternal", status=429, retry_after=7)  # the digest's chart
    scheduler.run_slot("TR-ORCH-001", "end-of-day")
    assert digests(slack) == []
    for _ in range(8):  # 40 s: each post tried again after its Retry-After
        wait_and_retry(served, 5)
        scheduler.run_slot("TR-ORCH-001", "end-of-day")  # the job firing again claims nothing

    [digest] = digests(slack)
    assert digest.startswith(DIGEST)
    [message] = story_posts(slack, "*Weekly digest")
    assert charts_in_thread(slack, message["ts"]) == ["TR-ORCH-001: burn-up, week to 2026-01-09"]
    assert end_of_day_posts(slack) == (1, 1)
    refused = [c for c in slack.calls_to("chat.postMessage") if c.failed]
    assert len(refused) == 2


def test_a_digest_refused_500_is_tried_again_with_backoff(served, slack):
    served.at(paris(2026, 1, 9, 17, 0))
    scheduler.run_slot("TR-ORCH-001", "standup")  # Friday's standup is out; the digest follows the end of day
    slack.fail_next("chat.postMessage", status=500, times=1)  # the end-of-day prompt
    slack.fail_next("chat.postMessage", status=503, times=1)  # the digest
    scheduler.run_slot("TR-ORCH-001", "end-of-day")
    wait_and_retry(served, 1)  # 1 s: the first backoff
    assert len(digests(slack)) == 1
    for _ in range(5):
        wait_and_retry(served, 10)
    assert len(digests(slack)) == 1 and end_of_day_posts(slack) == (1, 1)


def test_a_digest_whose_answer_was_lost_is_looked_for_not_posted_twice(served, slack):
    served.at(paris(2026, 1, 9, 17, 0))
    # Slack takes both posts (the prompt's, then the digest's) and the connection drops before its answer.
    slack.lose_answer_next("chat.postMessage", times=2)
    scheduler.run_slot("TR-ORCH-001", "end-of-day")
    [message] = story_posts(slack, "*Weekly digest")  # in the channel: Slack has it
    assert charts_in_thread(slack, message["ts"]) == []
    for _ in range(4):  # a look a minute (one for the prompt, one for the digest): found, not sent again
        wait_and_retry(served, 61, slack)

    assert len(digests(slack)) == 1
    assert charts_in_thread(slack, message["ts"]) == ["TR-ORCH-001: burn-up, week to 2026-01-09"]
    assert end_of_day_posts(slack) == (1, 1)
    assert len(slack.calls_to("conversations.history", include_failed=False)) >= 2


def test_a_retrospective_slack_refuses_goes_out_once_when_slack_takes_it(served, slack):
    served.at(paris(2026, 1, 7, 12, 0))
    served("stop --reason 'scope cut'")
    slack.fail_next("chat.postMessage", status=429, retry_after=30)
    slack.fail_next("files.completeUploadExternal", status=503)
    scheduler.tick()
    assert retrospectives(slack) == []
    wait_and_retry(served, 29)
    assert retrospectives(slack) == []  # not before Slack's Retry-After
    wait_and_retry(served, 1)
    [story] = retrospectives(slack)
    assert story.splitlines()[1] == "Stopped on Wed 07 Jan (scope cut), working day 3 of 10, with 0 of 24 tasks done"
    [message] = story_posts(slack, "*Retrospective")
    assert charts_in_thread(slack, message["ts"]) == []  # its chart was refused: tried again after 2 s
    wait_and_retry(served, 2)
    title = "TR-ORCH-001: burn-up of the whole plan, 2026-01-05 to 2026-01-07"
    assert charts_in_thread(slack, message["ts"]) == [title]
    served.advance(minutes=1)
    scheduler.tick()  # the next minute, and another replica: still once
    scheduler._runtime = replace(scheduler._require_runtime(), name="replica-2")
    scheduler.tick()
    wait_and_retry(served, 60)
    assert len(retrospectives(slack)) == 1 and charts_in_thread(slack, message["ts"]) == [title]


# --- the leads' verdicts on criteria no metric judges ----------------------------------------------

LEAD, STRANGER = "U0LEAD0001", "U0NOBODY01"
FRONTEND = "• stream-b-frontend: “All UI components functional, accessibility compliant”"


def click(app, slack, action_id: str, value: str, message: dict, *, user: str, answer: str) -> None:
    """A click on a button of ``message`` in the plan's channel, as Slack sends it (the payload of
    tests/slack_payloads/block_actions_message_button.json, which names its source), to the app in process."""
    payload = fixture("block_actions_message_button", {"C0PLAN0001": CHANNEL})["payload"]
    payload["user"].update(id=user, username=user.lower(), name=user.lower())
    payload["message"] = {**payload["message"], **message}
    payload["container"]["message_ts"] = message["ts"]
    payload["response_url"] = slack.response_url(answer)
    payload["actions"][0].update(action_id=action_id, value=value, block_id="verdict")
    body = urlencode({"payload": json.dumps(payload)})
    response = app.dispatch(BoltRequest(body=body, headers={"content-type": ["application/x-www-form-urlencoded"]}))
    assert response.status == 200


def verdict_buttons(blocks: list[dict]) -> list[tuple[str, str, str]]:
    return [
        (e["text"]["text"], e["action_id"].split(":")[0], e["value"])
        for b in blocks
        if b["type"] == "actions"
        for e in b["elements"]
    ]


def test_a_lead_confirms_a_criterion_with_its_button_and_the_retrospective_says_who(served, slack, engine):
    served.at(paris(2026, 1, 7, 12, 0))
    served("stop --reason 'scope cut'")
    scheduler.tick()
    [message] = story_posts(slack, "*Retrospective")
    assert f"{FRONTEND} — to confirm (no metric reported)" in shown(message)
    assert verdict_buttons(message["blocks"])[2:4] == [
        ("Met", "retro_met", "TR-ORCH-001|stream-b-frontend"),
        ("Not met", "retro_not_met", "TR-ORCH-001|stream-b-frontend"),
    ]
    app = build_app(engine, token="xoxb-test", api_url=slack.url, verify_token=False)

    # Someone who does not lead the plan: refused, to them alone, and nothing changes.
    click(app, slack, "retro_met", "TR-ORCH-001|stream-b-frontend", message, user=STRANGER, answer="v0")
    refusal = body_of(slack.wait_for("response:v0", timeout=10)[0])
    assert refusal["response_type"] == "ephemeral"
    assert refusal["text"] == (
        ":no_entry: only a lead of TR-ORCH-001 may confirm a success criterion; leads: <@U0LEAD0001>"
    )
    with Session(engine) as session:
        assert session.exec(select(CriterionVerdict)).all() == []

    # The lead: recorded with their name, announced, and the retrospective edited in place.
    click(app, slack, "retro_met", "TR-ORCH-001|stream-b-frontend", message, user=LEAD, answer="v1")
    [edit] = slack.wait_for("chat.update", timeout=10)
    assert (edit.body["channel"], edit.body["ts"]) == (CHANNEL, message["ts"])
    story = shown(edit.body)
    today = f"{datetime.now(PARIS):%a %d %b}"  # a click is Slack's, in real time
    assert f"{FRONTEND} — met, said <@{LEAD}> on {today}" in story
    assert "*Retrospective of TR-ORCH-001*, Mon 05 Jan to Wed 07 Jan" in story
    assert [v for _, _, v in verdict_buttons(edit.body["blocks"])] == ["TR-ORCH-001|stream-a-backend"] * 2 + [
        "TR-ORCH-001|stream-c-testing"
    ] * 2  # the others are still to confirm
    announced = body_of(slack.wait_for("response:v1", timeout=10)[0])
    assert announced["response_type"] == "in_channel"
    assert (
        "stream-b-frontend's success criterion “All UI components functional, accessibility compliant”: met,"
        " said u0lead0001." in texts(announced["blocks"])
    )
    with Session(engine) as session:
        [verdict] = session.exec(select(CriterionVerdict)).all()
        assert (verdict.stream, verdict.met, verdict.slack_user) == ("stream-b-frontend", True, LEAD)

    # From the CLI too: the next tick draws the retrospective again.
    served("retro criterion stream-c not-met")
    scheduler.tick()
    edits = slack.wait_for("chat.update", count=2, timeout=10)
    story = shown(edits[-1].body)
    assert "• stream-c-testing: “>95% test coverage, zero critical bugs” — not met, said tester on Wed 07 Jan" in (
        story
    )
    assert f"{FRONTEND} — met, said <@{LEAD}> on {today}" in story
    scheduler.tick()  # nothing new: not drawn again
    assert len(slack.calls_to("chat.update")) == 2


def test_a_criterion_its_metrics_judge_is_not_the_leads_to_confirm(served, slack, tmp_path):
    criteria = tmp_path / "criteria.yml"
    criteria.write_text(
        EXAMPLE_PLAN.read_text().replace(
            '"All backend services operational, <100ms response time"', '"code coverage kept"'
        )
    )
    served(f"plan load {criteria}")
    served("metric code-coverage 93%")
    with pytest.raises(CommandError, match="has no retrospective yet: its criteria are confirmed once it is done"):
        served("retro criterion stream-b met")
    served.at(paris(2026, 1, 7, 12, 0))
    served("stop --reason 'scope cut'")
    scheduler.tick()
    with pytest.raises(CommandError, match="stream-a-backend's criterion is judged by its metrics: met"):
        served("retro criterion stream-a met")
    [message] = story_posts(slack, "*Retrospective")
    assert "TR-ORCH-001|stream-a-backend" not in [v for _, _, v in verdict_buttons(message["blocks"])]


# --- the plan done: on time, or late ----------------------------------------------------------------


EVENTS = ("api-endpoints-ready", "service-complete", "components-ready", "day-5-complete")  # its coordination


def finish_every_task(runner, engine) -> None:
    """Every task of the plan done, as the team would: each one ready is marked done, and the plan's
    coordination events are raised for the tasks waiting on them."""
    for event in EVENTS:
        runner(f"event {event}")
    with Session(engine) as session:
        keys = session.exec(select(Task.key).where(col(Task.archived).is_(False)).order_by(col(Task.id))).all()
    for key in keys:
        runner(f"task done {key}")


@pytest.mark.parametrize(
    ("finished", "ending"),
    [
        (
            paris(2026, 1, 16, 16, 0),  # Friday of the second week: working day 10 of the plan's 10
            "Delivered on time: all 24 tasks done on Fri 16 Jan, working day 10 of 10",
        ),
        (
            paris(2026, 1, 20, 11, 0),  # the Tuesday after
            "Delivered late: all 24 tasks done on Tue 20 Jan, working day 12 of 10 (2 working days over)",
        ),
    ],
)
def test_a_plan_done_tells_whether_it_was_delivered_on_time(served, slack, engine, finished, ending):
    served.at(finished - timedelta(hours=1))
    finish_every_task(served, engine)
    served.at(finished)
    scheduler.tick()
    scheduler.tick()  # the next minute: still once
    [story] = retrospectives(slack)
    lines = story.splitlines()
    assert lines[0] == f"*Retrospective of TR-ORCH-001*, Mon 05 Jan to {finished.astimezone(PARIS):%a %d %b}"
    assert lines[1] == ending
    assert lines[2].startswith("Burn-up: 480.0 h done by ")
    assert f"{FRONTEND} — to confirm (no metric reported)" in lines
