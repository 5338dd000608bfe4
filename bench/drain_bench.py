"""Draining a backlog of alerts at Slack's pace (issue 15, item 3): the bound the README states.

N distinct alerts are raised on one plan whose routes spread them over C Slack channels, then
delivered as `serve` does: `bot.delivery.deliver_due` every DELIVER_SECONDS (bot/scheduler.py),
through the client `serve` builds (bot.app.web_client), against the stand-in (tests/fake_slack.py)
holding Slack's limits: chat.postMessage about one message a second per channel, with a burst of
about a second's worth, beyond which it answers 429 with Retry-After ("Posting messages",
https://api.slack.com/apis/rate-limits); conversations.history one call a minute and 15 messages
for an app outside the Marketplace (https://api.slack.com/changelog/2025-05-terms-rate-limit-update-and-faq).
On top, optionally: some posts whose answer is lost after Slack took them (`--lost`), and a burst
of 429s and 500s (`--faults`).

Measured: seconds until every row is sent; the longest one round of the delivery job took (the
worker blocked: with the SDK's in-line sleep through Retry-After this is where it showed); posts
duplicated and alerts lost (counted in the stand-in by each post's alert number); history calls.

    .venv/bin/python bench/drain_bench.py --alerts 500 --channels 10 --lost 2 --faults
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from bench.generate import small_plan, write_document  # noqa: E402
from bench.run import open_store  # noqa: E402
from bench.slack import BenchSlack  # noqa: E402
from bot.app import web_client  # noqa: E402
from bot.delivery import Outlets, deliver_due  # noqa: E402
from bot.scheduler import DELIVER_SECONDS  # noqa: E402
from models.db.tables import AlertDelivery  # noqa: E402
from models.db.types import utcnow  # noqa: E402
from tests.serve_process import BOT_TOKEN  # noqa: E402

PLAN_KEY = "DRAIN-001"
ALERT_ID = re.compile(r"alert #(\d+) ·")


def plan(alerts: int, channels: int) -> dict:
    document = small_plan(PLAN_KEY, "#drain")
    per_channel = alerts // channels + 1
    document["alerts"] = [
        {"level": "info", "channel": [f"drain-{c}"], "events": [f"e-{c}-{n:04d}" for n in range(per_channel)]}
        for c in range(channels)
    ]
    document["destinations"] = {f"drain-{c}": {"slack": f"#drain-{c}"} for c in range(channels)}
    del document["risk-triggers"]
    return document


def due(engine) -> int:
    with Session(engine) as session:
        return session.exec(
            select(func.count()).select_from(AlertDelivery).where(AlertDelivery.status.in_(("pending", "update")))
        ).one()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=500)
    parser.add_argument("--channels", type=int, default=10)
    parser.add_argument("--lost", type=int, default=0, help="posts whose answer is lost (each in its own channel)")
    parser.add_argument("--faults", action="store_true", help="a burst of 5×429 (Retry-After 5 s) and 5×500 first")
    parser.add_argument("--limit-s", type=float, default=600)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="orchestrate-drain-") as tmp:
        store = open_store(Path(tmp), PLAN_KEY)
        slack = BenchSlack().start()
        slack.posts_per_second = 1.0
        try:
            store.run(["plan", "load", str(write_document(Path(tmp) / "drain.yml", plan(args.alerts, args.channels)))])
            store.run(["start", PLAN_KEY])
            for n in range(args.alerts):
                store.run(["event", f"e-{n % args.channels}-{n // args.channels:04d}", "--plan", PLAN_KEY])
            client = web_client(BOT_TOKEN, slack.url)
            client.auth_test()
            if args.faults:
                slack.fail_next("chat.postMessage", 429, retry_after=5, times=5)
                slack.fail_next("chat.postMessage", 500, times=5)
            if args.lost:
                slack.lose_answer_next("chat.postMessage", times=args.lost)
            outlets = Outlets(client=client)
            began = time.monotonic()
            rounds, longest = 0, 0.0
            while due(store.engine) and time.monotonic() - began < args.limit_s:
                start = time.monotonic()
                deliver_due(store.engine, outlets, utcnow)
                took = time.monotonic() - start
                rounds, longest = rounds + 1, max(longest, took)
                time.sleep(max(0.0, DELIVER_SECONDS - took))  # the interval job's next run
            drained = time.monotonic() - began
            posts = collections.Counter()
            for call in slack.calls_to("chat.postMessage", include_failed=False):
                found = ALERT_ID.search(json.dumps(call.body.get("blocks", ""), ensure_ascii=False))
                if found:
                    posts[int(found.group(1))] += 1
            refused = sum(1 for c in slack.calls_to("chat.postMessage") if c.failed)
            print(
                f"{args.alerts} alerts over {args.channels} channels "
                f"(lost answers: {args.lost}, faults: {args.faults}): "
                f"drained in {drained:.1f} s over {rounds} rounds; longest round {longest:.2f} s; "
                f"rows left {due(store.engine)}; alerts posted {len(posts)}, "
                f"lost {args.alerts - len(posts)}, duplicated {sum(1 for n in posts.values() if n > 1)}; "
                f"posts refused {refused}; history calls {len(slack.calls_to('conversations.history'))}"
            )
        finally:
            slack.stop()
            store.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
