"""A `serve` killed with SIGKILL mid-delivery loses nothing, and repeats nothing, after a restart."""

import collections
import json
import re
import time

from commands.core.dispatch import execute
from models.db.store import make_engine, upgrade
from tests.conftest import EXAMPLE_PLAN
from tests.fake_slack import FakeSlack
from tests.serve_process import ServeProcess
from tests.slack_app import OPERATOR

ALERTS = 30


def posted_alert_ids(slack) -> list[int]:
    ids = []
    for call in slack.calls_to("chat.postMessage", include_failed=False):
        match = re.search(r"alert #(\d+) ·", json.dumps(call.body.get("blocks", ""), ensure_ascii=False))
        if match:
            ids.append(int(match.group(1)))
    return ids


def test_sigkill_while_delivering_then_restart(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    execute(engine, ["plan", "load", str(EXAMPLE_PLAN)], OPERATOR)
    execute(engine, ["start", "TR-ORCH-001"], OPERATOR)
    for number in range(ALERTS):  # distinct events, so none is grouped into another
        execute(engine, ["event", f"incident-{number}"], OPERATOR)
    env = {"ORCHESTRATE_DELIVERY_LEASE_SECONDS": "3"}
    with FakeSlack() as slack:
        slack.delays["chat.postMessage"] = 0.15
        first = ServeProcess(tmp_path, slack.url, url, extra_env=env)
        first.wait_healthy()
        deadline = time.monotonic() + 30
        while len(posted_alert_ids(slack)) < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
        first.process.kill()  # SIGKILL: no cleanup, a delivery likely half-way
        first.process.wait()
        sent_before = len(posted_alert_ids(slack))
        assert 8 <= sent_before < ALERTS, sent_before

        second = ServeProcess(tmp_path, slack.url, url, extra_env=env)
        try:
            second.wait_healthy()
            deadline = time.monotonic() + 60
            while len(set(posted_alert_ids(slack))) < ALERTS and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(4)  # past one more lease: anything left in flight would show up now
        finally:
            second.stop()
    counts = collections.Counter(posted_alert_ids(slack))
    assert sorted(counts) == list(range(1, ALERTS + 1))  # nothing lost
    assert [alert for alert, n in counts.items() if n > 1] == []  # nothing repeated
