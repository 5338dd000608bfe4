"""A standup of 600 agents under Slack's rate limits: answers by thread and by the modal, 50 silent.

    .venv/bin/python -m bench.sync_at_scale [--agents 600] [--silent 50] [--within 270]

`orchestrate serve --http` as a subprocess on a SQLite store, the stand-in for Slack with its rate
limits on (tests/fake_slack.py RATE_LIMITS: chat.postMessage 1/s per channel, chat.update and
conversations.open 50/min, views.* 100/min). The plan's standup is scheduled a minute ahead, lasts
5 minutes, and reminds half-way. Half the answerers reply in the prompt's thread, half press
Answer (a fresh trigger_id, good for 3 s) and submit the modal; their times are spread evenly over
``--within`` seconds by 8 senders. Prints the figures, and writes them into bench/RESULTS.md's
"Sync at scale" section.
"""

import argparse
import json
import random
import re
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from sqlmodel import Session, col, func, select

from bench.slack import BenchSlack
from commands.core.context import Actor
from commands.core.dispatch import Invocation, execute
from models.db.store import make_engine, upgrade
from models.db.tables import Agent, SyncAnswer
from tests.serve_process import ServeProcess, block_action
from tests.slack_app import OPERATOR

CHANNEL = "C0SCALE001"
RESULTS = Path(__file__).with_name("RESULTS.md")
SECTION = "## Sync at scale (bench/sync_at_scale.py)"
RACE_S = 0.5  # an answer this close before its reminder may have crossed it (clocks, the look, the post)


def user(n: int) -> str:
    return f"U0A{n:07d}"


def plan_file(path: Path, agents: int, at: datetime, minutes: int) -> None:
    streams = max(1, agents // 10)
    path.write_text(
        yaml.safe_dump(
            {
                "id": "SCALE-1",
                "timezone": "UTC",
                "channel": CHANNEL,
                "working-days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                "working-hours": ["00:00", "23:59"],
                "roles": {"leads": ["U0LEAD0001"]},
                "streams": [{"id": f"s{k:02d}"} for k in range(streams)],
                "agents": {
                    f"a{n:03d}": {"stream": f"s{n % streams:02d}", "slack-user": user(n), "tasks": [f"Work {n}"]}
                    for n in range(agents)
                },
                "sync-schedule": [
                    {"time": f"{at:%H:%M}", "type": "standup", "duration": f"{minutes}min", "required": ["all-agents"]}
                ],
            }
        )
    )


def blocks_of(call) -> list[dict]:
    blocks = call.body.get("blocks")
    return json.loads(blocks) if isinstance(blocks, str) else blocks or []


def answered_count(call) -> int | None:
    for block in blocks_of(call):
        for element in block.get("elements", []):
            found = re.search(r"(\d+)/(\d+) answered", str(element.get("text", "")))
            if found:
                return int(found.group(1))
    return None


def main() -> None:
    options = argparse.ArgumentParser()
    options.add_argument("--agents", type=int, default=600)
    options.add_argument("--silent", type=int, default=50)
    options.add_argument("--within", type=float, default=270.0, help="seconds over which the answers come")
    options.add_argument("--minutes", type=int, default=5, help="how long the sync lasts (reminders half-way)")
    args = options.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="sync-scale-"))
    now = datetime.now(UTC)
    fire = (now + timedelta(minutes=1)).replace(second=0, microsecond=0)
    if fire - now < timedelta(seconds=15):
        fire += timedelta(minutes=1)
    plan_file(workdir / "plan.yml", args.agents, fire, args.minutes)
    url = f"sqlite:///{workdir / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    execute(engine, ["plan", "load", str(workdir / "plan.yml")], OPERATOR)
    execute(engine, ["start", "SCALE-1"], OPERATOR)

    slack = BenchSlack()
    slack.rate_limits = True
    slack.start()
    bot = ServeProcess(workdir, slack.url, url)
    try:
        bot.wait_healthy()
        wait = (fire - datetime.now(UTC)).total_seconds() + 60
        print(f"waiting {wait:.0f} s for the prompt", file=sys.stderr)
        prompt = slack.wait_for("chat.postMessage", timeout=wait)[0]
        posted_at = time.monotonic()
        wall_offset = time.time() - time.monotonic()  # the stand-in stamps calls with time.monotonic()
        slot = next(
            e["value"]
            for b in blocks_of(prompt)
            if b["type"] == "actions"
            for e in b["elements"]
            if e.get("action_id") == "sync_answer"
        )
        time.sleep(2)  # its place recorded
        ts = slack.messages(CHANNEL)[0]["ts"]

        answerers = list(range(args.agents - args.silent))
        random.Random(7).shuffle(answerers)
        by_thread, by_modal = answerers[::2], answerers[1::2]
        plan = sorted([(n, "thread") for n in by_thread] + [(n, "modal") for n in by_modal], key=lambda x: x[0])
        random.Random(8).shuffle(plan)
        spacing = args.within / max(1, len(plan))
        started = time.monotonic()
        lost: list[str] = []
        lock = threading.Lock()

        def answer(index: int, n: int, how: str) -> None:
            time.sleep(max(0.0, started + index * spacing - time.monotonic()))
            if how == "thread":
                event = {
                    "type": "message",
                    "user": user(n),
                    "text": f"standup of {n}: on Work {n}",
                    "ts": f"{1800000000 + index}.000100",
                    "thread_ts": ts,
                    "channel": CHANNEL,
                    "channel_type": "channel",
                }
                status, _ = bot.event(event, event_id=f"EvScale{n}")
                if status != 200:
                    with lock:
                        lost.append(f"thread {n}: {status}")
                return
            trigger = slack.trigger_id()
            click = block_action("sync_answer", slot, slack.response_url(f"m{n}"), user=user(n), channel=CHANNEL)
            click["trigger_id"] = trigger
            bot.interaction(click)
            deadline = time.monotonic() + 20
            view = None
            while view is None and time.monotonic() < deadline:
                for call in slack.calls_to("views.open"):
                    if call.body.get("trigger_id") == trigger and not call.failed:
                        view = (
                            call.body["view"] if isinstance(call.body["view"], dict) else json.loads(call.body["view"])
                        )
                        break
                else:
                    time.sleep(0.2)
            if view is None:
                with lock:
                    lost.append(f"modal {n}: no modal")
                return
            submission = {
                "type": "view_submission",
                "team": {"id": "T0TEST"},
                "api_app_id": "A0TEST",
                "user": {"id": user(n), "username": user(n).lower(), "team_id": "T0TEST"},
                "view": {
                    **view,
                    "id": f"V{n}",
                    "state": {
                        "values": {
                            "yesterday": {"value": {"type": "plain_text_input", "value": f"did {n}"}},
                            "today": {"value": {"type": "plain_text_input", "value": f"do {n}"}},
                            "blockers": {"value": {"type": "plain_text_input", "value": None}},
                            "tasks_done": {"value": {"type": "multi_static_select", "selected_options": done_of(view)}},
                        }
                    },
                },
            }
            bot.interaction(submission)

        with ThreadPoolExecutor(max_workers=8) as senders:
            list(senders.map(lambda item: answer(item[0], *item[1]), enumerate(plan)))
        last_sent = time.monotonic()
        expected = len(plan) - len(lost)

        current_at = None
        deadline = last_sent + 120
        while time.monotonic() < deadline:
            updates = [c for c in slack.calls_to("chat.update") if not c.failed]
            if updates and answered_count(updates[-1]) == expected:
                current_at = updates[-1].at
                break
            time.sleep(0.5)
        end_of_sync = posted_at + args.minutes * 60
        time.sleep(max(0.0, end_of_sync - time.monotonic()))  # the reminders have until the sync ends
        reminders = [
            c
            for c in slack.calls_to("chat.postMessage")
            if str(c.body.get("text", "")).startswith("Reminder") and not c.failed
        ]
        reminded = {c.body.get("channel") for c in reminders}
        with Session(engine) as session:
            stored = session.exec(
                select(func.count()).select_from(SyncAnswer).where(col(SyncAnswer.answered_at).is_not(None))
            ).one()
            answered_at = dict(
                session.exec(
                    select(Agent.slack_user, SyncAnswer.answered_at).join(Agent, Agent.id == SyncAnswer.agent_id)
                ).all()
            )
        check = reminder_check(reminders, answered_at, wall_offset, end_of_sync)
        said = [f"standup of {n}: on Work {n}" for n in by_thread] + [f"did {n}; today: do {n}" for n in by_modal]
        shown, lists = shown_in_pages(engine, slot, said)
        per_method: dict[str, int] = {}
        for call in slack.calls:
            per_method[call.method.split(":")[0]] = per_method.get(call.method.split(":")[0], 0) + 1
        figures = {
            "agents": args.agents,
            "answers sent (thread / modal)": f"{len(by_thread)} / {len(by_modal)} over {args.within:.0f} s",
            "answers lost on the way": len(lost),
            "answers stored": stored,
            "final prompt shows answered": answered_count(
                [c for c in slack.calls_to("chat.update") if not c.failed][-1]
            )
            if slack.calls_to("chat.update")
            else None,
            "prompt current after the last answer": f"{current_at - last_sent:.1f} s"
            if current_at
            else "never (120 s)",
            "chat.update calls (ok / 429)": f"{len([c for c in slack.calls_to('chat.update') if not c.failed])}"
            f" / {slack.ratelimited.get('chat.update', 0)}",
            "answers shown across the prompt's pages (Show more)": f"{shown} of {len(said)}",
            "Python lists shown in them": lists,
            "reminders sent (silent)": f"{len(reminded)} ({args.silent})",
            "reminders (to those silent when it was sent / after they had answered / within 0.5 s of their answer)": (
                f"{check['to silent']} / {check['stale']} / {check['raced']}"
            ),
            "silent at the end and never reminded": check["missed"],
            "last reminder before the sync ended": check["last before end"],
            "429s by method": dict(slack.ratelimited) or "none",
            "views.open refused (expired_trigger_id)": sum(
                1 for m, e in slack.refusals if (m, e) == ("views.open", "expired_trigger_id")
            ),
            "clickers told Slack was busy": sum(
                1 for c in slack.calls if c.method.startswith("response:m") and "too busy" in str(c.body.get("text"))
            ),
            "calls by method": dict(sorted(per_method.items())),
        }
    finally:
        bot.stop()
        slack.stop()
        engine.dispose()
    for key, value in figures.items():
        print(f"{key}: {value}")
    write_results(figures, f"{SECTION[:-1]}, answers over {args.within:.0f} s)")


def done_of(view: dict) -> list[dict]:
    """The first of the agent's tasks in the form, ticked as done (what a list of tasks shows as)."""
    for block in view["blocks"]:
        if block.get("block_id") == "tasks_done":
            return block["element"]["options"][:1]
    return []


def shown_in_pages(engine, slot: str, texts: list[str]) -> tuple[int, int]:
    """How many of ``texts`` the prompt shows across its pages (its Show more: `answers --slot N`),
    and how many Python lists (``['``) they show."""
    from bot.blocks import render_body_dicts

    lead = Invocation(
        actor=Actor(id="slack:U0LEAD0001", name="lead", source="slack", slack_user="U0LEAD0001"), front="slack"
    )
    offset: int | None = 0
    shown = ""
    while offset is not None:
        page = render_body_dicts(execute(engine, ["answers", "--slot", slot], lead, audited=False).body, offset=offset)
        shown += json.dumps(page, ensure_ascii=False)
        more = [
            json.loads(e["value"])
            for b in page
            if b["type"] == "actions"
            for e in b["elements"]
            if e["action_id"] == "page_more"
        ]
        offset = more[0]["offset"] if more else None
    return sum(1 for t in texts if t in shown), shown.count("['")


def reminder_check(reminders: list, answered_at: dict, wall_offset: float, end_of_sync: float) -> dict:
    """Whether each reminder went to someone silent when it was sent (the stored answer's time against
    the reminder's), who stayed silent and was never reminded, and when the last one went."""
    sent = {str(c.body.get("channel")): c.at + wall_offset for c in reminders}
    stale = raced = to_silent = 0
    for user_id, at in sent.items():
        answered = answered_at.get(user_id)
        answered_s = answered.replace(tzinfo=UTC).timestamp() if answered else None
        if answered_s is None or answered_s > at:
            to_silent += 1
        elif answered_s < at - RACE_S:
            stale += 1
        else:
            raced += 1
    missed = sum(1 for user_id, at in answered_at.items() if at is None and user_id not in sent)
    last = max((c.at for c in reminders), default=None)
    return {
        "to silent": to_silent,
        "stale": stale,
        "raced": raced,
        "missed": missed,
        "last before end": f"{end_of_sync - last:.0f} s" if last is not None else "no reminder",
    }


def write_results(figures: dict, section: str) -> None:
    """Its own section of bench/RESULTS.md (one per answering window), replaced by the next run of it."""
    lines = [
        section,
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on this machine (2 CPUs shared);"
        " the stand-in enforces Slack's rate limits.",
        "",
        "| figure | value |",
        "| --- | --- |",
        *[f"| {k} | {v} |" for k, v in figures.items()],
        "",
    ]
    text = RESULTS.read_text() if RESULTS.exists() else ""
    if section in text:
        start = text.index(section)
        end = text.find("\n## ", start + len(section))
        text = text[:start] + (text[end + 1 :] if end >= 0 else "")
    RESULTS.write_text(text.rstrip() + "\n\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
