"""Draw what the bot sends for issue 20's reports, with ../shared/tools/slack-preview (draw.py's `draw`).

    PYTHONPATH=. .venv/bin/python docs/screenshots/draw_reports.py

The payloads are the bot's own, on the ten days of tests/test_ten_days.py played on its fake clock (the
example plan TR-ORCH-001, in SQLite): `report` and `report --agent agent-c2` as answered in Slack
(bot/blocks.py) with their burn-up charts (bot/report_post.py), the second week's digest and the
retrospective once the plan is stopped (bot/story_posts.py), and the blocker of tests/test_blockers.py
named on day 2, reminded and told to the leads (the calls FakeSlack received).
"""

import sys
import tempfile
from pathlib import Path

from slack_sdk import WebClient
from sqlmodel import SQLModel

sys.path.insert(0, str(Path(__file__).parent))

from draw import HERE, draw

from bot import scheduler
from bot.blocks import fallback_text, render
from bot.report_post import burnup_chart
from bot.story_posts import Story, digest_story, retrospective_story
from models.db.store import make_engine
from models.rules.digest import digest_due, retrospectives_due
from tests.clock import paris
from tests.conftest import LEAD, Runner
from tests.fake_slack import FakeSlack
from tests.test_blockers import C2, plan_file
from tests.test_ten_days import END, PLAN_KEY, World

TS = "1768579200.000100"


def answer(name: str, reply) -> dict:
    """A command's answer in Slack, as its response_url carries it."""
    return {
        "method": f"response:{name}",
        "params": {"response_type": "ephemeral", "text": fallback_text(reply), "blocks": render(reply)},
    }


def story_calls(story: Story) -> list[dict]:
    """The story's message, then its chart shared in its thread."""
    post = {"channel": story.channel, "text": story.text, "blocks": story.blocks}
    chart = {
        "channel": story.channel,
        "thread_ts": TS,
        "initial_comment": story.chart_title,  # as bot/story_posts.py shares it
        "files": [{"title": story.chart_title}],
    }
    return [
        {"method": "chat.postMessage", "response": {"ts": TS}, "params": post},
        {"method": "files.completeUploadExternal", "params": chart},
    ]


def reports() -> None:
    def new_engine():
        engine = make_engine("sqlite://")
        SQLModel.metadata.create_all(engine)
        return engine

    world = World(new_engine, Path(tempfile.mkdtemp()))
    try:
        world.play_until(END)
        for name, line in (("report", "report"), ("report-agent", "report --agent agent-c2")):
            reply = world.run(line, actor=LEAD, front="slack")
            draw(f"{name}-slack", [answer(line, reply)])
            (HERE / f"{name}-burnup.png").write_bytes(burnup_chart(reply.body))
        digest = digest_due(world.engine, PLAN_KEY, "end-of-day", now=END)
        assert digest is not None, "Friday's end-of-day has the week's digest"
        draw("weekly-digest", story_calls(digest_story(digest)))
        world.run("stop --reason 'the ten working days are up'", actor=LEAD)
        [retro] = retrospectives_due(world.engine, now=world.run.now)
        story = retrospective_story(retro)
        draw("retrospective", story_calls(story))
        draw("retrospective-phone", story_calls(story), width=390)
    finally:
        scheduler._runtime = None
        world.close()


def blockers() -> None:
    """tests/test_blockers.py's first story: named on Tuesday, reminded Wednesday and Thursday, told to the leads."""
    engine = make_engine("sqlite://")
    SQLModel.metadata.create_all(engine)
    with FakeSlack() as slack:
        run = Runner(engine, paris(5, 9))
        run(f"plan load {plan_file(Path(tempfile.mkdtemp()))}")
        run("start TR-ORCH-001")
        run("task start T21")
        scheduler.use(engine, WebClient(token="xoxb-test", base_url=slack.url), clock=lambda: run.now)
        run.at(paris(6, 9))
        scheduler.run_slot(PLAN_KEY, "standup")
        run.at(paris(6, 9, 20))
        said = run('answer --field today="pipeline" --field blockers="waiting on the staging cluster quota"', actor=C2)
        for when in (paris(6, 17), paris(7, 9), paris(8, 9)):
            run.at(when)
            scheduler.tick()
            scheduler.deliver()
        board = run("status", actor=LEAD, front="slack")
        posted = [
            {"method": c.method, "params": c.body}
            for c in slack.calls_to("chat.postMessage", include_failed=False)
            if "locker B1" in c.body["text"]
        ]
        draw("blockers-slack", [answer("answer", said), *posted, answer("status", board)])
        scheduler._runtime = None
    engine.dispose()


if __name__ == "__main__":
    reports()
    blockers()
