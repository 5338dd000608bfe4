"""The Slack-side fixtures every end-to-end test shares: the stand-in for Slack, a started store, a `serve` process.

Registered for the whole suite in conftest.py (`pytest_plugins`), so tests ask for them by name.
"""

import json

import pytest

from commands.core.context import Actor
from commands.core.dispatch import Invocation, execute
from models.db.store import make_engine, upgrade
from tests.conftest import EXAMPLE_PLAN
from tests.fake_slack import FakeSlack
from tests.serve_process import ServeProcess

OPERATOR = Invocation(actor=Actor(id="cli:setup", name="setup", source="cli", operator=True))


@pytest.fixture
def slack():
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def store(tmp_path):
    """A store file with the example plan loaded and started."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    execute(engine, ["plan", "load", str(EXAMPLE_PLAN)], OPERATOR)
    execute(engine, ["start", "TR-ORCH-001"], OPERATOR)
    yield url, engine
    engine.dispose()


METRICS_TOKEN = "test-metrics-token-5d1c"


@pytest.fixture
def server(request, tmp_path, slack, store):
    """`serve --http` on the store, Slack's stand-in as its Slack; a test module may set SERVE_ENV, the
    environment it needs (the API token, say), instead of the metrics token alone."""
    env = getattr(request.module, "SERVE_ENV", {"ORCHESTRATE_METRICS_TOKEN": METRICS_TOKEN})
    process = ServeProcess(tmp_path, slack.url, store[0], extra_env=env)
    try:
        process.wait_healthy()
        yield process
    finally:
        process.stop()


def body_of(call) -> dict:
    body = dict(call.body)
    if isinstance(body.get("blocks"), str):
        body["blocks"] = json.loads(body["blocks"])
    return body


def texts(blocks: list[dict]) -> str:
    found = []
    for block in blocks:
        if "text" in block and isinstance(block["text"], dict):
            found.append(block["text"]["text"])
        for element in block.get("elements", []):
            found.append(
                element.get("text", "")
                if isinstance(element.get("text"), str)
                else element.get("text", {}).get("text", "")
            )
        if block.get("accessory"):
            found.append(block["accessory"]["text"]["text"])
    return "\n".join(found)


def buttons(blocks: list[dict]) -> list[str]:
    """The action ids of every button, in order."""
    found = [b["accessory"]["action_id"] for b in blocks if b.get("accessory", {}).get("type") == "button"]
    for block in blocks:
        found += [e["action_id"] for e in block.get("elements", []) if e.get("type") == "button"]
    return found
