"""Draw what the bot sends for issue 16's surfaces, with ../shared/tools/slack-preview.

    PYTHONPATH=. .venv/bin/python docs/screenshots/draw.py

The payloads are the bot's own: the Home views are bot/home.py's `home_view` (what `views.publish`
sends) after real clicks' commands, the prompt and the summary are what `chat.update` and
`chat.postMessage` carry (bot/blocks.py), on a plan generated as the benchmark's, in SQLite.
"""

import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.generate import build_plan, write_document
from bot.blocks import render_body_dicts
from bot.home import home_view
from bot.respond import SlackFront
from bot.sync_post import progress_charts
from commands.core.context import Actor
from commands.core.dispatch import Invocation, execute
from models.db.store import make_engine, upgrade
from models.db.types import utcnow
from models.rules.sync import posted_prompt, record_posted
from models.views.sync import DaySummary, SilentAt, StreamDay
from tests.slack_app import OPERATOR

HERE = Path(__file__).parent
# ../shared/tools beside the checkout (/work/main), or beside the folder of worktrees (/work/wt/NAME).
PREVIEW = next(
    p / "shared" / "tools" / "slack-preview" / "slack_preview.py"
    for p in HERE.parents
    if (p / "shared" / "tools" / "slack-preview" / "slack_preview.py").exists()
)
LEAD, AGENT, STRANGER = "U0LEAD0001", "U00100BENCH", "U0NOBODY01"


def draw(name: str, calls: list[dict], width: int = 800) -> None:
    source = HERE / f"{name}.json"
    source.write_text(json.dumps(calls, indent=1, ensure_ascii=False))
    out = Path(tempfile.mkdtemp()) / f"{name}.html"
    command = [sys.executable, str(PREVIEW), str(source), "-o", str(out), "--png", str(HERE / f"{name}.png")]
    subprocess.run([*command, "--width", str(width)], check=True)
    source.unlink()


def slack_user(user: str) -> Invocation:
    return Invocation(actor=Actor(id=f"slack:{user}", name=user, source="slack", slack_user=user), front="slack")


def main() -> None:
    work = Path(tempfile.mkdtemp())
    plan = build_plan(streams=60, agents_per_stream=10, tasks_per_agent=8)
    plan["agents"]["agent-01-02"]["slack-user"] = LEAD
    plan["sync-schedule"] = [{"time": "09:00", "type": "standup", "duration": "15min", "required": ["all-agents"]}]
    write_document(work / "plan.yml", plan)
    engine = make_engine(f"sqlite:///{work / 'store.db'}")
    upgrade(engine)
    execute(engine, ["plan", "load", str(work / "plan.yml")], OPERATOR)
    execute(engine, ["start", plan["id"]], OPERATOR)
    front = SlackFront(engine)
    # The prompt: everyone asked, as the standup would; the agent's own task started, then the Home tabs.
    prompt = execute(engine, ["sync", "--type", "standup", "--plan", plan["id"]], slack_user(LEAD))
    slot = prompt.prompt_to_post
    record_posted(engine, slot, channel="C0BENCH", ts="1800000000.000100", now=utcnow())
    execute(engine, ["task", "start", "T1", "--plan", plan["id"]], slack_user(AGENT))
    start = execute(engine, ["task", "start", "T2", "--plan", plan["id"]], slack_user(AGENT))
    notice = [*render_body_dicts(start.body), {"type": "divider"}]
    draw("home-lead", [{"method": "views.publish", "params": {"user_id": LEAD, "view": home_view(front, LEAD)}}])
    agent_view = home_view(front, AGENT, notice)
    draw("home-agent", [{"method": "views.publish", "params": {"user_id": AGENT, "view": agent_view}}])
    stranger_view = home_view(front, STRANGER)
    draw("home-stranger", [{"method": "views.publish", "params": {"user_id": STRANGER, "view": stranger_view}}])
    # 550 of 600 answer (half by thread, half by the form), 50 stay silent.
    agents = list(plan["agents"])
    rng = random.Random(5)
    for n, key in enumerate(agents[:550]):
        said = (
            ["--", f"on {rng.choice(['the login page', 'the migration', 'CI', 'the API'])}, no blocker"]
            if n % 2
            else ["--field", f"yesterday=review #{n}", "--field", f"today=tests for #{n}"]
        )
        execute(engine, ["answer", "--slot", str(slot), "--agent", key, *said], OPERATOR)
    posted = posted_prompt(engine, slot, now=utcnow())
    assert posted is not None
    ts = "1800000000.000100"
    first = render_body_dicts(prompt.body)
    now = render_body_dicts(posted.prompt)
    post = {"channel": "C0BENCH", "text": "Sync", "blocks": first}
    draw(
        "prompt-600",
        [
            {"method": "chat.postMessage", "response": {"ts": ts}, "params": post},
            {"method": "chat.update", "params": {"channel": "C0BENCH", "ts": ts, "text": "Sync", "blocks": now}},
        ],
    )
    every = execute(engine, ["answers", "--slot", str(slot)], slack_user(LEAD), audited=False)
    page = {"response_type": "ephemeral", "text": "Sync", "blocks": render_body_dicts(every.body)}
    draw("prompt-600-show-all", [{"method": "response:show-all", "params": page}])
    # The day's summary of 60 streams, with the 50 silent and a long list of those of another prompt.
    rng = random.Random(3)
    streams = []
    for key in [s["id"] for s in plan["streams"]]:
        started = rng.uniform(0.1, 0.6)
        streams.append(
            StreamDay(key=key, start=started, now=min(1, started + rng.uniform(0, 0.15)), planned=started + 0.1)
        )
    summary = DaySummary(
        plan=plan["id"],
        day=utcnow().date(),
        streams=streams,
        done_today=[f"T{n} {plan['agents'][agents[n]]['tasks'][0]}" for n in range(20)],
        done_count=212,
        blockers=["T48 Payment webhook retries (waiting on the provider's sandbox)"],
        missing=[SilentAt(sync_type="standup", slot_id=slot, agents=agents[550:])],
        missed_slots=[],
    )
    draw(
        "summary-60",
        [
            {
                "method": "chat.postMessage",
                "response": {"ts": "1800000500.000100"},
                "params": {"channel": "C0BENCH", "text": "End of day", "blocks": render_body_dicts(summary)},
            }
        ],
    )
    for n, chart in enumerate(progress_charts(summary), start=1):  # uploaded in the summary's thread
        (HERE / f"summary-60-chart-{n}.png").write_bytes(chart)
    engine.dispose()


if __name__ == "__main__":
    main()
