"""Shared fixtures: a fresh store per test, on SQLite and on PostgreSQL, and a runner on a fake clock.

Every test that takes ``engine`` (directly, or through ``run``, ``loaded``,
``started``…) runs twice: ``[sqlite]`` on a fresh in-memory SQLite, and
``[postgresql]`` on a fresh database of the local PostgreSQL (a copy of a
per-session template holding the models' tables; see tests/pg.py). The
PostgreSQL runs skip, saying how to start the server, when it is not there.
Select one store with ``-m sqlite`` or ``-m postgresql``.
"""

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import SQLModel

from commands.core.context import Actor
from commands.core.dispatch import Invocation, execute
from commands.core.grammar import tokenize
from models.db.store import make_engine
from tests import pg
from tests.clock import MONDAY_9AM_PARIS

# Fixtures shared across modules, asked for by name: fake_slack; slack, store, server; mailbox, sms.
pytest_plugins = ["tests.fake_slack", "tests.slack_app", "tests.outlets"]

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_PLAN = ROOT / "models" / "example_plans" / "TR-ORCH-001.yml"
SHARED_PLAN = ROOT.parent / "shared" / "plans" / "TR-ORCH-001.yml"

LEAD = Actor(id="slack:U0LEAD0001", name="lead", source="slack", slack_user="U0LEAD0001")
OPERATOR = Actor(id="cli:tester", name="tester", source="cli", operator=True)
STRANGER = Actor(id="slack:U0NOBODY01", name="stranger", source="slack", slack_user="U0NOBODY01")


STORES = ("sqlite", "postgresql")

# Tests that fail on PostgreSQL because of a bug of the product, by node id (without the
# [postgresql] suffix): marked xfail(strict=True) on that store only, so a fix shows up as XPASS.
POSTGRESQL_BUGS: dict[str, str] = {}


def pytest_configure(config):
    for store in STORES:
        config.addinivalue_line("markers", f"{store}: runs on the {store} store (the engine fixture's parameter)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        store = params.get("engine") or params.get("empty_store")  # the stores' fixtures (and the migrations')
        if store not in STORES:
            continue
        item.add_marker(getattr(pytest.mark, store))
        bug = POSTGRESQL_BUGS.get(item.nodeid.rsplit("[", 1)[0]) if store == "postgresql" else None
        if bug:
            item.add_marker(pytest.mark.xfail(strict=True, reason=bug))


@pytest.fixture(scope="session")
def postgres_templates():
    """Per-session template database with the models' tables (tests/pg.py); dropped at the end."""
    templates = pg.Templates()
    yield templates
    left = templates.close()
    if left:
        import warnings

        warnings.warn(f"test databases left on the PostgreSQL server: {left}", stacklevel=1)


@pytest.fixture(params=STORES)
def engine(request):
    """A fresh, empty store with every table: in-memory SQLite, or its own PostgreSQL database."""
    if request.param == "sqlite":
        engine = make_engine("sqlite://")
        SQLModel.metadata.create_all(engine)
        yield engine
        engine.dispose()
        return
    reason = pg.unreachable()
    if reason:
        pytest.skip(reason)
    templates = request.getfixturevalue("postgres_templates")
    name = templates.copy()
    engine = make_engine(pg.url(name))
    try:
        yield engine
    finally:
        engine.dispose()
        templates.discard(name)


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


def start_plan_text(run: Runner, path: Path, text: str, plan: str) -> Runner:
    """A plan written out at `path`, loaded and started: for tests that vary the example."""
    path.write_text(text)
    run(f"plan load {path}")
    run(f"start {plan}")
    return run


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
