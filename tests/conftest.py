"""Shared fixtures: a fresh in-memory SQLite per test, and a runner on a fake clock."""


from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlmodel import SQLModel

from commands.context import Actor
from commands.dispatch import Invocation, execute
from commands.grammar import tokenize
from models.store import make_engine

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_PLAN = ROOT / "models" / "example_plans" / "TR-ORCH-001.yml"
SHARED_PLAN = ROOT.parent / "shared" / "plans" / "TR-ORCH-001.yml"

LEAD = Actor(id="slack:U0LEAD0001", name="lead", source="slack", slack_user="U0LEAD0001")
OPERATOR = Actor(id="cli:tester", name="tester", source="cli", operator=True)
STRANGER = Actor(id="slack:U0NOBODY01", name="stranger", source="slack", slack_user="U0NOBODY01")

# Monday 5 January 2026, 09:00 in Paris (08:00 UTC): the example plan's first working hour.
MONDAY_9AM_PARIS = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
def engine():
    engine = make_engine("sqlite://")
    SQLModel.metadata.create_all(engine)
    yield engine
    engine.dispose()


class Runner:
    """Runs command lines as a front end would, on a clock the test moves."""

    def __init__(self, engine, now: datetime):
        self.engine = engine
        self.now = now

    def __call__(self, text: str, actor: Actor = OPERATOR, front: str = "cli"):
        front = front if front != "cli" or actor.source == "cli" else actor.source
        return execute(self.engine, tokenize(text), Invocation(actor=actor, front=front), now=self.now)

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)

    def at(self, when: datetime) -> None:
        self.now = when


@pytest.fixture
def run(engine):
    return Runner(engine, MONDAY_9AM_PARIS)


@pytest.fixture
def loaded(run):
    """The example plan loaded (not started)."""
    run(f"plan load {EXAMPLE_PLAN}")
    return run


@pytest.fixture
def started(loaded):
    """The example plan started on Monday 09:00 Paris."""
    loaded("start TR-ORCH-001")
    return loaded


@pytest.fixture(autouse=True)
def _no_dotenv_leak(monkeypatch, tmp_path):
    """Each test runs in its own directory, so no `.env` or store file is shared."""
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(name, raising=False)
    yield
