"""Block Kit stays within Slack's limits on large plans, and user text stays text."""

import json

import pytest
import yaml
from slack_sdk.models.blocks import Block

from bot.blocks import render
from tests.conftest import OPERATOR, start_plan_text


def large_plan(streams: int = 60, agents_per_stream: int = 10, tasks_per_agent: int = 2) -> str:
    return yaml.safe_dump(
        {
            "id": "BIG-1",
            "streams": [{"id": f"stream-{s:02d}-{'x' * 20}"} for s in range(streams)],
            "agents": {
                f"agent-{s:02d}-{a}": {
                    "stream": f"stream-{s:02d}-{'x' * 20}",
                    "name": f"Agent {s}/{a}",
                    "tasks": [f"Task {t} of a rather long title for agent {s}/{a}" for t in range(tasks_per_agent)],
                }
                for s in range(streams)
                for a in range(agents_per_stream)
            },
        }
    )


@pytest.fixture
def big(run, tmp_path):
    return start_plan_text(run, tmp_path / "big.yml", large_plan(), "BIG-1")


def valid(blocks: list[dict], limit: int = 50) -> list[dict]:
    assert len(blocks) <= limit
    for block in blocks:
        Block.parse(block).to_dict()  # raises on any broken limit
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
    return blocks


def page_button(blocks):
    values = [
        e["value"] for b in blocks if b["type"] == "actions" for e in b["elements"] if e["action_id"] == "page_more"
    ]
    return json.loads(values[0]) if values else None


def test_the_dashboard_of_sixty_streams_pages_within_the_limits(big):
    reply = big("status")
    first = valid(render(reply))
    assert page_button(first) == {"command": "status", "plan": "BIG-1", "offset": 20}
    second = valid(render(reply, offset=20))
    third = valid(render(reply, offset=40))
    assert page_button(second)["offset"] == 40 and page_button(third) is None
    shown = [
        b
        for page in (first, second, third)
        for b in page
        if b.get("accessory", {}).get("action_id", "").startswith("stream_pause")
    ]
    assert len(shown) == 60


def test_the_monitor_of_six_hundred_agents_pages_within_the_limits(big):
    reply = big("health")
    first = valid(render(reply))
    # A summary of all 600, then the first 50; the next page is one click away.
    assert first[1]["elements"][0]["text"].startswith("*600 agents*: ")
    assert "600 IDLE" in first[1]["elements"][0]["text"]
    assert page_button(first) == {"command": "health", "plan": "BIG-1", "offset": 0, "page": 2}
    assert "agents 1–50 of 600 · page 1 of 12" in json.dumps(first, ensure_ascii=False)
    page, seen = 1, []
    while page is not None:
        blocks = valid(render(big(f"health --plan BIG-1 --page {page}")))
        seen += [line for b in blocks if b["type"] == "section" for line in b["text"]["text"].split("\n")]
        following = page_button(blocks)
        page = following["page"] if following else None
    assert len(seen) == 600 and len(set(seen)) == 600
    assert "*agent-59-9*" in seen[-1]


def test_health_refuses_a_page_it_does_not_have(big):
    from commands.core.errors import CommandError

    for line, message in (
        ("health --page 13", "--page 13: there are 12 page(s) of 600 agent(s); `health --page 12` is the last"),
        ("health --page 0", "--page 0: pages count from 1 (`health --page 1` is the first)"),
    ):
        with pytest.raises(CommandError) as refused:
            big(line)
        assert refused.value.message == message


def test_a_long_task_list_stays_within_the_limits(big):
    valid(render(big("task list --limit 1200")))


def test_user_text_cannot_ping_or_forge_links(run, tmp_path):
    path = tmp_path / "sneaky.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "id": "SNEAKY-1",
                "streams": [{"id": "s"}],
                "agents": {"a": {"stream": "s", "tasks": ["<!channel> wake up", "<https://evil.example|your bank>"]}},
            }
        )
    )
    run(f"plan load {path}")
    run("start SNEAKY-1")
    reply = run("task block T1 --reason '<!here> <@U0LEAD0001> see <http://x|this>'", actor=OPERATOR)
    for blocks in (render(run("task list")), render(reply), render(run("health"))):
        text = json.dumps(blocks)
        assert "<!channel>" not in text and "<!here>" not in text and "<http" not in text
        assert "<@U0LEAD0001>" not in text
    assert "&lt;!channel&gt; wake up" in json.dumps(render(run("task list")))


def test_a_day_summary_of_60_streams_and_600_silent_names_every_one_within_slacks_limits():
    from datetime import date

    from bot.blocks import render_body_dicts
    from models.views.sync import DaySummary, SilentAt, StreamDay
    from tests.fake_slack import MAX_MESSAGE_BLOCKS, _block_errors
    from tests.slack_app import texts

    streams = [StreamDay(key=f"stream-{n:02d}", start=0.2, now=0.3, planned=0.35) for n in range(60)]
    silent = [SilentAt(sync_type="standup", slot_id=7, agents=[f"agent-{n:03d}" for n in range(600)])]
    summary = DaySummary(
        plan="BIG-1",
        day=date(2026, 1, 5),
        streams=streams,
        done_today=[],
        done_count=0,
        blockers=[],
        missing=silent,
        missed_slots=[],
    )
    blocks = render_body_dicts(summary)
    assert _block_errors(blocks, MAX_MESSAGE_BLOCKS, "/blocks") == []
    shown = texts(blocks)
    assert all(f"*stream-{n:02d}*" in shown for n in range(60))
    assert all(f"agent-{n:03d}" in shown for n in range(600))  # whole names: none cut at 3,000 characters


def test_the_chart_of_60_streams_comes_in_charts_readable_at_slacks_preview_width():
    import struct
    from datetime import date

    from bot.sync_post import progress_charts
    from models.views.sync import DaySummary, StreamDay

    streams = [StreamDay(key=f"stream-{n:02d}", start=0.2, now=0.3, planned=0.35) for n in range(60)]
    summary = DaySummary(
        plan="BIG-1",
        day=date(2026, 1, 5),
        streams=streams,
        done_today=[],
        done_count=0,
        blockers=[],
        missing=[],
        missed_slots=[],
    )
    charts = progress_charts(summary)
    assert len(charts) == 4  # 15 streams each, as a gallery in the summary's thread
    for png in charts:
        width, height = struct.unpack(">II", png[16:24])
        # Wider than tall, so Slack's preview (about 360 px) scales it by half at most: a row of 15 px or more.
        assert width <= 800 and height <= width and height / 15 * (360 / width) >= 12


def test_the_terminal_monitor_of_six_hundred_agents_shows_a_summary_and_the_way_on(big):
    from bot.text import render_body

    first = render_body(big("health").body)
    assert "600 agents: 600 IDLE" in first and "page 1 of 12 · `health --page 2` for the next" in first
    assert first.count("│ IDLE") == 50
    last = render_body(big("health --page 12").body)
    assert "page 12 of 12" in last and "--page 13" not in last and "agent-59-9" in last


def test_a_day_summary_too_big_for_one_message_counts_what_is_left_and_says_how_to_see_it():
    import re
    from datetime import date

    from bot.blocks import render_body_dicts
    from models.views.sync import DaySummary, SilentAt, StreamDay
    from tests.fake_slack import MAX_MESSAGE_BLOCKS, _block_errors
    from tests.slack_app import texts

    streams = [StreamDay(key=f"stream-{n:03d}-{'y' * 40}", start=0.2, now=0.3, planned=0.35) for n in range(1000)]
    silent = [
        SilentAt(sync_type="standup", slot_id=7, agents=[f"agent-{n:04d}-of-a-long-name" for n in range(3000)]),
        SilentAt(sync_type="end-of-day", slot_id=8, agents=[f"agent-{n:04d}-of-a-long-name" for n in range(3000)]),
    ]
    summary = DaySummary(
        plan="BIG-1",
        day=date(2026, 1, 5),
        streams=streams,
        done_today=[f"T{n} a task" for n in range(20)],
        done_count=180,
        blockers=[],
        missing=silent,
        missed_slots=[],
    )
    blocks = render_body_dicts(summary)
    assert _block_errors(blocks, MAX_MESSAGE_BLOCKS, "/blocks") == []
    shown = texts(blocks)
    streams_shown = len(re.findall(r"\*stream-\d{3}-y+\*", shown))
    assert f"and {1000 - streams_shown} more: `/orchestrate status BIG-1` shows them all" in shown
    assert "and 160 more: `/orchestrate task list --status done --plan BIG-1` lists them" in shown
    for slot, kind in ((7, "standup"), (8, "end-of-day")):
        part = shown.split(f"({3000}, {kind})")[1].split("No answer from")[0]
        named = re.findall(r"agent-\d{4}-of-a-long-name", part)  # whole names only
        assert named and f"and {3000 - len(named)} more: `/orchestrate answers --slot {slot}` shows who" in part
        assert not re.search(r"agent-\d{0,3}(,|\n|$)|-of-a-l(?!ong-name)", part)  # no name cut short
